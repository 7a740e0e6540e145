//! `POST /.well-known/embedgate/sync`: the admin's signed messages
//! (architecture.md §6). Each message goes to every configured region
//! before the edge answers: the region's head admits it (core's
//! [`embedgate_core::replica::ReplicaMeta::admit`]), the orgs' stores apply
//! or stage its records, the directory learns new client IDs, and the head
//! commits it (or records why a region could not take it, which the ack and
//! `/healthz` then say). Regions are applied concurrently.

use std::collections::BTreeMap;
use std::pin::pin;
use std::time::Duration;

use embedgate_core::replica::ReplicaMeta;
use embedgate_core::sync::{
    check_signature_header, open_request_keyed, seal_ack, RegionAck, SyncAck, SyncBody, SyncError, SyncOutcome,
    SyncRequest, Usage, MAX_SYNC_BYTES, SIGNATURE_HEADER,
};
use embedgate_core::usage::{EmbedUse, USERS_ACK_BYTES};
use embedgate_core::{OrgChanges, Region};
use futures_util::future::{join_all, select, Either};
use futures_util::StreamExt as _;
use worker::{Delay, Env, Method, Request, Response, Result};

use super::cache::{self, head_object, org_object};
use super::config::Config;
use super::directory::{self, Entry};
use super::head::{AdmitRequest, Admitted, CommitRequest, UsagePage, Verdict};
use super::org::{ApplyRequest, StageRequest};
use super::routes::{json_response, sync_refusal};
use super::{call, now_s, Purpose, DIRECTORY_BINDING, HEAD_BINDING, ORG_BINDING};
use crate::render;

/// How long a sync body may take to arrive (the admin sends it at once).
const SYNC_BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Org stores written at once per region.
const ORG_CONCURRENCY: usize = 8;

/// Reads at most `cap` bytes of the body in pieces: `None` as soon as it is
/// longer, whatever length it declared (a chunked body declares none).
async fn read_capped(req: &mut Request, cap: usize) -> Result<Option<Vec<u8>>> {
    let Ok(mut stream) = req.stream() else { return Ok(Some(Vec::new())) };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The endpoint.
pub async fn sync(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    if req.method() != Method::Post {
        let mut resp = json_response(405, render::error_json("method_not_allowed", "use POST"))?;
        resp.headers_mut().set("allow", "POST")?;
        return Ok(resp);
    }
    let declared = req.headers().get("content-length")?.and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_SYNC_BYTES) {
        return sync_refusal(&SyncError::TooLarge);
    }
    // Nothing unsigned is read: a missing or malformed signature is refused first.
    let signature = req.headers().get(SIGNATURE_HEADER)?;
    if let Err(e) = check_signature_header(signature.as_deref()) {
        return sync_refusal(&e);
    }
    let read = pin!(read_capped(&mut req, MAX_SYNC_BYTES));
    let body = match select(read, Delay::from(SYNC_BODY_DEADLINE)).await {
        Either::Left((Ok(Some(body)), _)) => body,
        Either::Left((Ok(None), _)) => return sync_refusal(&SyncError::TooLarge),
        Either::Left((Err(e), _)) => {
            // The client went away mid-body: nobody is left to answer.
            worker::console_warn!("sync body unreadable: {e}");
            return json_response(400, render::error_json("body_unreadable", "the body could not be read"));
        }
        Either::Right(((), _)) => {
            return json_response(408, render::error_json("body_timeout", "the body did not arrive in time"));
        }
    };
    let (request, kid) = match open_request_keyed(&body, signature.as_deref(), &config.sync) {
        Ok(opened) => opened,
        Err(e) => return sync_refusal(&e),
    };
    // Authentic, but consistent, and verifiable here? Checked before anything is stored.
    let held = config.edge_keys.ids();
    for org in orgs_of(&request.body) {
        if let Err(e) = org.check() {
            return json_response(422, render::error_json("inconsistent_state", &e.to_string()));
        }
        if let Err(e) = org.check_wrapped(&held) {
            return json_response(422, render::error_json("unknown_edge_key", &e.to_string()));
        }
    }
    let vouched = request.vouched_at(now_s());
    let results = join_all(config.regions.iter().map(|r| apply_region(env, *r, &request, vouched))).await;
    // This isolate stops using what changed at once; the others within the staleness bound.
    for org in orgs_of(&request.body) {
        cache::forget(config, org);
    }
    let mut regions = Vec::with_capacity(results.len());
    let mut verdicts = Vec::with_capacity(results.len());
    for result in results {
        let (ack, verdict) = result?;
        cache::note_vouched(ack.0.region, ack.1.synced_at);
        regions.push(ack.0);
        verdicts.push(verdict);
    }
    let outcome = outcome(&request.body, &regions, &verdicts);
    let reported = usage(env, config, &request).await?;
    let applied_version = regions.iter().map(|r| r.version).min().unwrap_or(0);
    let applied_issued_at = results_issued_at(env, config).await.unwrap_or(0);
    let ack = SyncAck {
        applied_version,
        applied_issued_at,
        regions,
        outcome,
        usage: reported.usage,
        usage_cursor: reported.usage_cursor,
        users: reported.users,
        users_cursor: reported.users_cursor,
        users_dropped: reported.users_dropped,
        nonce: request.nonce,
    };
    // Answered under the key that sealed the request (it is configured: it opened it).
    let Some(key) = config.sync.get(kid) else { return sync_refusal(&SyncError::UnknownKey(kid)) };
    let sealed = seal_ack(&ack, key);
    let status = if ack.outcome == SyncOutcome::Stale { 409 } else { 200 };
    let mut resp = json_response(status, String::from_utf8(sealed.body).unwrap_or_default())?;
    resp.headers_mut().set(SIGNATURE_HEADER, &sealed.signature)?;
    Ok(resp)
}

/// When the admin sent what the first region applied (for the admin's board).
async fn results_issued_at(env: &Env, config: &Config) -> Result<i64> {
    let Some(first) = config.regions.first() else { return Ok(0) };
    Ok(cache::head_meta(env, *first).await?.issued_at)
}

fn orgs_of(body: &SyncBody) -> &[OrgChanges] {
    match body {
        SyncBody::Probe => &[],
        SyncBody::Delta { orgs, .. } | SyncBody::Full { orgs, .. } => orgs,
    }
}

/// `body` without its orgs (what the head decides on).
fn header_of(body: &SyncBody) -> SyncBody {
    match body {
        SyncBody::Probe => SyncBody::Probe,
        SyncBody::Delta { from, to, last, .. } => SyncBody::Delta { from: *from, to: *to, last: *last, orgs: vec![] },
        SyncBody::Full { id, to, seq, last, replace, .. } => {
            SyncBody::Full { id: id.clone(), to: *to, seq: *seq, last: *last, replace: *replace, orgs: vec![] }
        }
    }
}

type RegionResult = ((RegionAck, ReplicaMeta), Verdict);

async fn head(env: &Env, region: Region, path: &str, body: String) -> Result<worker::Response> {
    call(env, HEAD_BINDING, &head_object(region), Some(region.as_str()), path, Some(body), Purpose::Sync).await
}

/// Takes the message into one region.
async fn apply_region(env: &Env, region: Region, request: &SyncRequest, vouched_at: i64) -> Result<RegionResult> {
    let header = header_of(&request.body);
    let lineage = request.lineage.clone();
    let admit = serde_json::to_string(&AdmitRequest {
        lineage: lineage.clone(),
        version: request.version,
        body: header.clone(),
        vouched_at,
    })?;
    let admitted: Admitted = head(env, region, "/admit", admit).await?.json().await?;
    let meta = if admitted.verdict == Verdict::Proceed {
        match apply_records(env, region, &request.body).await {
            Ok(()) => {
                let commit =
                    serde_json::to_string(&CommitRequest { lineage, body: header, issued_at: request.sent_at })?;
                head(env, region, "/commit", commit).await?.json().await?
            }
            Err(e) => {
                worker::console_error!("sync: region {region} could not take the message: {e}");
                let fail = serde_json::json!({ "why": format!("could not apply the message: {e}") }).to_string();
                head(env, region, "/fail", fail).await?.json().await?
            }
        }
    } else {
        if let (Verdict::Refused, Some(why)) = (&admitted.verdict, &admitted.meta.error) {
            // An authentic message the region would not admit (a version jump
            // beyond the bound, say): only someone holding the sync key sends
            // one, so it is worth an operator's attention.
            worker::console_warn!("sync: region {region} refused an authentic message: {why}");
        }
        admitted.meta
    };
    let ack = RegionAck {
        region,
        lineage: meta.lineage.clone(),
        version: meta.version,
        full: meta.full.clone(),
        error: meta.error.clone(),
    };
    Ok(((ack, meta), admitted.verdict))
}

/// Applies (a delta) or stages (a full state's page) every org's records
/// in `region`, then tells the directory about the client IDs.
async fn apply_records(env: &Env, region: Region, body: &SyncBody) -> Result<()> {
    let orgs = orgs_of(body);
    for chunk in orgs.chunks(ORG_CONCURRENCY) {
        let writes = chunk.iter().map(|changes| async move {
            let (path, request) = match body {
                SyncBody::Full { id, replace, .. } => {
                    let stage = StageRequest { id: id.clone(), replace: *replace, changes: changes.clone() };
                    ("/stage", serde_json::to_string(&stage)?)
                }
                _ => ("/apply", serde_json::to_string(&ApplyRequest { changes: changes.clone() })?),
            };
            let name = org_object(region, changes.org.as_str());
            call(env, ORG_BINDING, &name, Some(region.as_str()), path, Some(request), Purpose::Sync).await.map(drop)
        });
        for result in join_all(writes).await {
            result?;
        }
    }
    let mut put: BTreeMap<u8, Vec<Entry>> = BTreeMap::new();
    let mut gone: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    for changes in orgs {
        for c in &changes.credentials {
            let id = c.client_id.as_str();
            put.entry(directory::shard(id))
                .or_default()
                .push(Entry { client_id: id.to_owned(), org: changes.org.as_str().to_owned() });
        }
        for d in &changes.deleted {
            gone.entry(directory::shard(d.client_id.as_str())).or_default().push(d.client_id.as_str().to_owned());
        }
    }
    let dir = |shard: u8| format!("dir:{region}:{shard}");
    let puts = put.into_iter().map(|(shard, entries)| async move {
        let body = serde_json::to_string(&entries)?;
        call(env, DIRECTORY_BINDING, &dir(shard), Some(region.as_str()), "/put", Some(body), Purpose::Sync)
            .await
            .map(drop)
    });
    for result in join_all(puts).await {
        result?;
    }
    let deletes = gone.into_iter().map(|(shard, ids)| async move {
        let body = serde_json::to_string(&ids)?;
        call(env, DIRECTORY_BINDING, &dir(shard), Some(region.as_str()), "/delete", Some(body), Purpose::Sync)
            .await
            .map(drop)
    });
    for result in join_all(deletes).await {
        result?;
    }
    Ok(())
}

/// What the edge as a whole did with the message.
fn outcome(body: &SyncBody, regions: &[RegionAck], verdicts: &[Verdict]) -> SyncOutcome {
    if regions.iter().any(|r| r.error.is_some())
        && verdicts.iter().any(|v| matches!(v, Verdict::Proceed | Verdict::Refused))
    {
        return SyncOutcome::Failed;
    }
    if matches!(body, SyncBody::Probe) {
        return SyncOutcome::Probed;
    }
    if verdicts.contains(&Verdict::Gap) {
        return SyncOutcome::Gap;
    }
    if verdicts.contains(&Verdict::Stale) {
        return SyncOutcome::Stale;
    }
    if verdicts.iter().all(|v| *v == Verdict::Current) {
        return SyncOutcome::Current;
    }
    let last = match body {
        SyncBody::Probe => true,
        SyncBody::Delta { last, .. } | SyncBody::Full { last, .. } => *last,
    };
    if last {
        SyncOutcome::Applied
    } else {
        SyncOutcome::Taken
    }
}

/// What every region recorded after the admin's cursors.
struct Reported {
    usage: Vec<Usage>,
    usage_cursor: BTreeMap<Region, u64>,
    users: BTreeMap<Region, Vec<EmbedUse>>,
    users_cursor: BTreeMap<Region, u64>,
    users_dropped: u64,
}

/// Credential use and embed users every region recorded after the admin's
/// cursors (embed users within [`USERS_ACK_BYTES`], shared by the regions).
async fn usage(env: &Env, config: &Config, request: &SyncRequest) -> Result<Reported> {
    let budget = USERS_ACK_BYTES / config.regions.len().max(1);
    let pages = join_all(config.regions.iter().map(|region| async move {
        let cursor = request.usage_after.get(region).copied().unwrap_or(0);
        let users_after = request.users_after.get(region).copied().unwrap_or(0);
        let path = format!("/usage?after={cursor}&users_after={users_after}&users_budget={budget}");
        let page: UsagePage =
            call(env, HEAD_BINDING, &head_object(*region), Some(region.as_str()), &path, None, Purpose::Sync)
                .await?
                .json()
                .await?;
        Ok::<_, worker::Error>((*region, page))
    }))
    .await;
    let mut out = Reported {
        usage: Vec::new(),
        usage_cursor: BTreeMap::new(),
        users: BTreeMap::new(),
        users_cursor: BTreeMap::new(),
        users_dropped: 0,
    };
    for page in pages {
        let (region, page) = page?;
        out.usage.extend(page.usage);
        out.usage_cursor.insert(region, page.cursor);
        if !page.users.is_empty() {
            out.users.insert(region, page.users);
        }
        out.users_cursor.insert(region, page.users_cursor);
        out.users_dropped = out.users_dropped.saturating_add(page.users_dropped);
    }
    Ok(out)
}
