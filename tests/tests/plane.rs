//! The edge state plane (issue 12) end to end on workerd: per-region
//! replicas, deltas from the admin's change log, full states in pages for
//! an edge older than the log, bounded version steps, the bounded
//! per-isolate credential cache and its round trips, and deleted
//! credentials.
//!
//! Each test proves one property on its own stack (one admin, one or two
//! `wrangler dev` edges). The tests take turns (`SERIAL`): two stacks at
//! once on two cores would make the timings they log (and the staleness
//! bounds they rely on) meaningless.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use embedgate_core::sync::{open_ack, seal_request, SyncAck, SyncBody, SyncOutcome, SyncRequest, SIGNATURE_HEADER};
use embedgate_core::{SyncKey, VerifyError, MAX_VERSION, MAX_VERSION_JUMP};
use embedgate_e2e::{
    pyjwt_sign_batch, step, Answer, Credential, Edge, Setup, Stack, ADMIN, ORG, OTHER_ORG, PUSH_DEADLINE, RECONCILE,
};
use futures_util::future::join_all;
use serde_json::{json, Value};

const ALICE: &str = "alice@customer.test";
const DAVE: &str = "dave@acme.test";
/// A third org, for the full state's pages to span several orgs.
const THIRD_ORG: &str = "initech";
/// The regions of the multi-region edges.
const REGIONS: [&str; 2] = ["wnam", "weur"];
/// Each region of a multi-region edge, named by the request header.
const BOTH: [Option<&str>; 2] = [Some("wnam"), Some("weur")];
/// Two replicas per edge, and a request may pick one with `x-embedgate-region`.
const TWO_REGIONS: [(&str, &str); 2] = [("EMBEDGATE_REGIONS", "wnam,weur"), ("EMBEDGATE_TRUST_REGION_HEADER", "true")];
/// How long an edge that is back may take to catch up (the admin's backoff
/// is at most 5 s, its probe every RECONCILE).
const HEAL_DEADLINE: Duration = Duration::from_secs(30);

/// One stack at a time (see the module documentation).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Milliseconds per load of `loads` that took `total`.
fn per_load(total: Duration, loads: usize) -> f64 {
    ms(total) / f64::from(u32::try_from(loads).unwrap())
}

fn now_s() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn edges(stack: &Stack) -> Vec<&Edge> {
    stack.edges.iter().collect()
}

fn assert_ok(a: &Answer, at: &str, cred: &Credential, sub: &str) {
    assert_eq!(a.status, 200, "{at}: {:?}", a.body);
    assert_eq!(a.body["ok"], true, "{at}: {:?}", a.body);
    assert_eq!(a.body["sub"], sub, "{at}: {:?}", a.body);
    assert_eq!(a.body["client_id"], cred.client_id.as_str(), "{at}: {:?}", a.body);
}

fn assert_refused(a: &Answer, at: &str, status: u16, code: &str) {
    assert_eq!((a.status, a.error()), (status, code), "{at}: {:?}", a.body);
}

/// What a fresh token of a credential must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok,
    Refused(u16, &'static str),
}

const REVOKED: Expect = Expect::Refused(401, "credential_revoked");
const UNKNOWN: Expect = Expect::Refused(401, "unknown_client");

/// A credential, the org whose embed URL its tokens are used on, and what they must get.
#[derive(Debug, Clone, Copy)]
struct Case<'a> {
    what: &'a str,
    org: &'a str,
    cred: &'a Credential,
    expect: Expect,
}

fn case<'a>(what: &'a str, cred: &'a Credential, expect: Expect) -> Case<'a> {
    Case { what, org: ORG, cred, expect }
}

/// A fresh PyJWT token of each case's credential, in each region of each
/// edge, gets what the case expects.
async fn assert_in_force(edges: &[&Edge], regions: &[Option<&str>], cases: &[Case<'_>]) {
    let per_case = edges.len() * regions.len();
    let specs: Vec<(&Credential, &str, usize)> = cases.iter().map(|c| (c.cred, ALICE, per_case)).collect();
    for (case, tokens) in cases.iter().zip(pyjwt_sign_batch(&specs)) {
        let mut tokens = tokens.into_iter();
        for edge in edges {
            for region in regions {
                let a = edge.embed_in(*region, case.org, Some(&tokens.next().unwrap()), None).await;
                let at = format!("{} on /{}/ at {}/{}", case.what, case.org, edge.name, region.unwrap_or("default"));
                match case.expect {
                    Expect::Ok => assert_ok(&a, &at, case.cred, ALICE),
                    Expect::Refused(status, code) => assert_refused(&a, &at, status, code),
                }
            }
        }
    }
}

/// Every region of `edge` is at `version`, of one lineage, with no error
/// and no full state in progress; returns the lineage.
async fn assert_regions_at(edge: &Edge, version: u64) -> String {
    let h = edge.healthz().await;
    assert_eq!(h["ok"], true, "{}: {h}", edge.name);
    assert_eq!(h["version"], version, "{}: {h}", edge.name);
    let regions = h["regions"].as_array().unwrap();
    let names: Vec<&str> = regions.iter().map(|r| r["region"].as_str().unwrap()).collect();
    assert_eq!(names, REGIONS, "{}: {h}", edge.name);
    let lineage = regions[0]["lineage"].as_str().unwrap().to_owned();
    assert!(!lineage.is_empty(), "{}: {h}", edge.name);
    for r in regions {
        assert_eq!(r["version"], version, "{}: {h}", edge.name);
        assert_eq!(r["lineage"], lineage.as_str(), "{}: {h}", edge.name);
        assert!(r["error"].is_null() && r["full"].is_null(), "{}: {h}", edge.name);
    }
    lineage
}

/// The admin's board lists both regions of every edge at `version`, without errors.
async fn assert_board_regions_at(stack: &Stack, version: u64) {
    let status = stack.edges_status().await;
    for listed in status["edges"].as_array().unwrap() {
        let regions: Vec<(&str, u64)> = listed["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r["error"].is_null(), "{status}");
                (r["region"].as_str().unwrap(), r["version"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(regions, [("wnam", version), ("weur", version)], "{status}");
        assert!(listed["full"].is_null(), "{status}");
    }
}

// ------------------------------------------------------------------ 1

/// When a region of an edge started refusing a revoked credential, counted
/// from the revocation's API call.
#[derive(Debug)]
struct Enforced {
    /// When the last load that was still accepted was sent (ms; `None`: none was).
    last_accepted_sent: Option<f64>,
    /// When the first refused load was answered (ms): the revocation was in force by then.
    refused_by: f64,
    /// Loads made.
    loads: usize,
}

/// Loads fresh tokens of `cred` in `region` of `edge` until one is refused
/// as revoked (every earlier one must be accepted exactly as before).
async fn poll_until_revoked(edge: &Edge, region: &str, cred: &Credential, pool: Vec<String>, t0: Instant) -> Enforced {
    let at = format!("{}/{region}", edge.name);
    let mut pool = pool.into_iter();
    let mut last_accepted_sent = None;
    for loads in 1.. {
        let token = pool.next().unwrap_or_else(|| cred.sign(ALICE));
        let sent = ms(t0.elapsed());
        let a = edge.embed_in(Some(region), ORG, Some(&token), None).await;
        if a.status != 200 {
            assert_refused(&a, &at, 401, "credential_revoked");
            return Enforced { last_accepted_sent, refused_by: ms(t0.elapsed()), loads };
        }
        assert_ok(&a, &at, cred, ALICE);
        last_accepted_sent = Some(sent);
        assert!(t0.elapsed() < PUSH_DEADLINE, "{at} still accepts the revoked credential after {PUSH_DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_is_seen_in_every_region_of_every_edge() {
    let _serial = SERIAL.lock().await;
    // Staleness 0: every load asks the store of the region its header names,
    // so each answer below is that replica's (not the isolate's cache).
    let vars = [TWO_REGIONS[0], TWO_REGIONS[1], ("STATE_MAX_STALENESS_MS", "0")];
    let stack = Stack::start_setup(2, &Setup { edge_vars: &vars, ..Setup::default() }).await;
    let portal = stack.create_credential("Customer portal", ADMIN).await;
    let version = stack.wait_in_sync(PUSH_DEADLINE).await;

    step("both edges hold the state in both regions, at the admin's version, of one lineage");
    let lineage = assert_regions_at(&stack.edges[0], version).await;
    assert_eq!(assert_regions_at(&stack.edges[1], version).await, lineage);
    assert_board_regions_at(&stack, version).await;

    step("a fresh token verifies in each region of each edge");
    assert_in_force(&edges(&stack), &BOTH, &[case("portal", &portal, Expect::Ok)]).await;

    step("revoke it, and load fresh tokens in every region of every edge at once until each refuses");
    let targets: Vec<(&Edge, &str)> = stack.edges.iter().flat_map(|e| REGIONS.iter().map(move |r| (e, *r))).collect();
    let pools = pyjwt_sign_batch(&targets.iter().map(|_| (&portal, ALICE, 60)).collect::<Vec<_>>());
    let t0 = Instant::now();
    stack.post(&format!("/credentials/{}/revoke", portal.client_id), json!({}), 200).await;
    let answered = ms(t0.elapsed());
    let watches =
        targets.iter().zip(pools).map(|((edge, region), pool)| poll_until_revoked(edge, region, &portal, pool, t0));
    let seen = join_all(watches).await;
    let figures: Vec<String> = targets
        .iter()
        .zip(&seen)
        .map(|((edge, region), e)| {
            let accepted = e.last_accepted_sent.map_or_else(|| "none".to_owned(), |t| format!("sent at {t:.0} ms"));
            format!(
                "{}/{region} by {:.0} ms (last accepted load {accepted}; {} loads)",
                edge.name, e.refused_by, e.loads
            )
        })
        .collect();
    step(&format!(
        "revocation enforced, counted from the API call (which answered in {answered:.0} ms): {}",
        figures.join(", ")
    ));

    step("afterwards fresh tokens are refused everywhere; /healthz and the admin show both regions at its version");
    assert_in_force(&edges(&stack), &BOTH, &[case("portal", &portal, REVOKED)]).await;
    let revoked_version = stack.wait_in_sync(PUSH_DEADLINE).await;
    assert_eq!(revoked_version, version + 1);
    for edge in &stack.edges {
        assert_eq!(assert_regions_at(edge, revoked_version).await, lineage);
    }
    assert_board_regions_at(&stack, revoked_version).await;
    step("done");
}

// ------------------------------------------------------------------ 2

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn an_edge_that_missed_changes_catches_up_from_the_log_with_deltas() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::start_setup(2, &Setup { edge_vars: &TWO_REGIONS, ..Setup::default() }).await;

    step("a credential for each kind of change (one owned by dave, an admin), all verifying on both edges");
    stack.post("/members", json!({"email": DAVE, "account_type": "admin"}), 201).await;
    let rotated = stack.create_credential("Rotated", ADMIN).await;
    let revoked = stack.create_credential("Revoked", ADMIN).await;
    let policy = stack.create_credential("Policy", ADMIN).await;
    let daves = stack.create_credential("Dave's", DAVE).await;
    let deleted = stack.create_credential("Deleted", ADMIN).await;
    let version = stack.wait_in_sync(PUSH_DEADLINE).await;
    let before_cases = [
        case("rotated", &rotated, Expect::Ok),
        case("revoked", &revoked, Expect::Ok),
        case("policy", &policy, Expect::Ok),
        case("dave's", &daves, Expect::Ok),
        case("deleted", &deleted, Expect::Ok),
    ];
    assert_in_force(&edges(&stack), &BOTH, &before_cases).await;

    step("stop edge-b; meanwhile create, rotate, revoke, patch a policy, deactivate an owner, delete a revoked one");
    let before = stack.pushed_to(&stack.edges[1]).await;
    stack.edges[1].stop().await;
    let fresh = stack.create_credential("Fresh", ADMIN).await;
    let answer = stack.post(&format!("/credentials/{}/rotate", rotated.client_id), json!({}), 200).await;
    let rotated_new =
        Credential { client_id: rotated.client_id.clone(), secret: answer["secret"].as_str().unwrap().to_owned() };
    stack.post(&format!("/credentials/{}/revoke", revoked.client_id), json!({}), 200).await;
    let path = format!("/api/v1/orgs/{ORG}/credentials/{}", policy.client_id);
    let (status, body) = stack.api("PATCH", &path, Some(json!({"max_token_lifetime_s": 300}))).await;
    assert_eq!(status, 200, "{body}");
    stack.post(&format!("/members/{DAVE}/deactivate"), json!({}), 200).await;
    stack.post(&format!("/credentials/{}/revoke", deleted.client_id), json!({}), 200).await;
    let path = format!("/api/v1/orgs/{ORG}/credentials/{}", deleted.client_id);
    let (status, body) = stack.api("DELETE", &path, None).await;
    assert_eq!(status, 200, "{body}");
    let target = stack.state_version().await;
    assert_eq!(target, version + 7, "seven changes, seven versions");

    let lifetime = VerifyError::LifetimeExceedsLimit;
    let after_cases = [
        case("fresh", &fresh, Expect::Ok),
        case("rotated (previous secret, still live)", &rotated, Expect::Ok),
        case("rotated (new secret)", &rotated_new, Expect::Ok),
        case("revoked", &revoked, REVOKED),
        case("policy (a 600 s token, limit 300 s)", &policy, Expect::Refused(lifetime.http_status(), lifetime.code())),
        case("dave's (owner deactivated)", &daves, REVOKED),
        case("deleted", &deleted, UNKNOWN),
    ];
    step("edge-a, which stayed up, has every change");
    stack.wait_pushed().await;
    assert_in_force(&[&stack.edges[0]], &BOTH, &after_cases).await;

    step("start edge-b again: it catches up from the log");
    stack.edges[1].start().await;
    let back = Instant::now();
    stack.edges[1].wait_version(target, HEAL_DEADLINE).await;
    let took = back.elapsed();
    assert_eq!(stack.wait_in_sync(PUSH_DEADLINE).await, target);
    let after = stack.pushed_to(&stack.edges[1]).await;
    step(&format!(
        "edge-b at version {target} {:.2} s after it was back; to it meanwhile (attempts while it was down \
         included): {} delta(s), {} page(s), {} probe(s), {} failed attempt(s), {} bytes",
        took.as_secs_f64(),
        after.delta - before.delta,
        after.page - before.page,
        after.probe - before.probe,
        after.failures - before.failures,
        after.bytes - before.bytes
    ));
    assert_eq!(after.page, before.page, "edge-b got a full state, not deltas: {before:?} → {after:?}");
    assert!(after.delta > before.delta, "no delta went to edge-b: {before:?} → {after:?}");
    assert!(after.bytes - before.bytes < 64 * 1024, "the catch-up was not small: {before:?} → {after:?}");
    assert_regions_at(&stack.edges[1], target).await;
    assert_board_regions_at(&stack, target).await;

    step("every change is in force in both regions of both edges");
    assert_in_force(&edges(&stack), &BOTH, &after_cases).await;
    step("done");
}

// ------------------------------------------------------------------ 3

/// The highest floor the admin logged pruning the change log to (RUST_LOG
/// `embedgate_admin::server::push=debug`).
fn pruned_floor(log: &str) -> Option<u64> {
    log.lines()
        .filter(|l| l.contains("change log pruned"))
        .filter_map(|l| l.split("floor=").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
}

/// What was seen while an edge took a full state.
#[derive(Debug, Default)]
struct Bootstrap {
    /// The admin's states for the edge, in order, repeats left out.
    states: Vec<String>,
    /// The highest next page a region of the edge reported expecting.
    max_next_page: u64,
    /// Loads of the witness answered while a region was taking the full state.
    served_during_full: usize,
    /// Every load of the witness.
    loads: usize,
}

/// Until the admin sees `edge` in sync at `target`: the admin's state for
/// it, the edge's full-state progress, and a load of `witness` (a credential
/// the edge had before) each round, which must verify throughout.
async fn watch_bootstrap(
    stack: &Stack,
    edge: &Edge,
    target: u64,
    witness: &Credential,
    pool: Vec<String>,
) -> Bootstrap {
    let mut seen = Bootstrap::default();
    let mut pool = pool.into_iter();
    let t0 = Instant::now();
    loop {
        let status = stack.edges_status().await;
        let listed = &status["edges"][0];
        let state = listed["state"].as_str().unwrap().to_owned();
        if seen.states.last() != Some(&state) {
            seen.states.push(state.clone());
        }
        if state == "in_sync" && listed["applied_version"] == target {
            return seen;
        }
        let (_, h) = edge.healthz_raw().await;
        let progress =
            h["regions"].as_array().into_iter().flatten().filter_map(|r| r["full"]["next_seq"].as_u64()).max();
        let region = REGIONS[seen.loads % 2];
        let token = pool.next().unwrap_or_else(|| witness.sign(ALICE));
        let a = edge.embed_in(Some(region), ORG, Some(&token), None).await;
        assert_ok(&a, &format!("the witness at {}/{region} during the bootstrap ({h})", edge.name), witness, ALICE);
        seen.loads += 1;
        if let Some(next) = progress {
            seen.max_next_page = seen.max_next_page.max(next);
            seen.served_during_full += 1;
        }
        assert!(t0.elapsed() < HEAL_DEADLINE, "not in sync after {HEAL_DEADLINE:?}: {status}; seen {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn an_edge_older_than_the_log_bootstraps_in_pages_and_serves_meanwhile() {
    const PER_ORG: usize = 40;
    let _serial = SERIAL.lock().await;
    // The log keeps a change for 1 s (pruned every 10 s); pages of ≤ 4 KiB of records.
    let admin_env = [
        ("EMBEDGATE_CHANGE_RETENTION", "1s"),
        ("EMBEDGATE_SYNC_PAGE_BYTES", "4096"),
        ("RUST_LOG", "warn,embedgate_admin::server::push=debug"),
    ];
    let setup = Setup { admin_env: &admin_env, edge_vars: &TWO_REGIONS, orgs: &[THIRD_ORG] };
    let mut stack = Stack::start_setup(1, &setup).await;

    step(&format!("{PER_ORG} credentials in each of {ORG}, {OTHER_ORG} and {THIRD_ORG}"));
    let orgs = [ORG, OTHER_ORG, THIRD_ORG];
    let mut made: Vec<Vec<Credential>> = Vec::new();
    for org in orgs {
        let mut creds = Vec::with_capacity(PER_ORG);
        for i in 0..PER_ORG {
            creds.push(stack.create_credential_in(org, &format!("bulk-{i:02}")).await);
        }
        made.push(creds);
    }
    let version = stack.wait_in_sync(HEAL_DEADLINE).await;
    let (witness, doomed, gone) = (&made[0][0], &made[0][1], &made[0][2]);
    let mut cases: Vec<Case> = orgs
        .iter()
        .zip(&made)
        .map(|(org, creds)| Case {
            what: "an org's last credential",
            org,
            cred: &creds[PER_ORG - 1],
            expect: Expect::Ok,
        })
        .collect();
    cases.extend([
        case("witness", witness, Expect::Ok),
        case("doomed", doomed, Expect::Ok),
        case("gone", gone, Expect::Ok),
    ]);
    assert_in_force(&edges(&stack), &BOTH, &cases).await;

    step("stop the edge; revoke one credential and delete another while it is down");
    stack.edges[0].stop().await;
    stack.post(&format!("/credentials/{}/revoke", doomed.client_id), json!({}), 200).await;
    stack.post(&format!("/credentials/{}/revoke", gone.client_id), json!({}), 200).await;
    let (status, body) = stack.api("DELETE", &format!("/api/v1/orgs/{ORG}/credentials/{}", gone.client_id), None).await;
    assert_eq!(status, 200, "{body}");
    let missed = stack.state_version().await;

    step("wait until the admin has pruned its log past those changes (retention 1 s, a prune every 10 s)");
    let t0 = Instant::now();
    let floor = loop {
        if let Some(floor) = pruned_floor(&stack.admin.log()).filter(|f| *f >= missed) {
            break floor;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no prune to version {missed} in 30 s:\n{}", stack.admin.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    step(&format!("the log's floor is {floor} after {:.1} s; the edge is at {version}", t0.elapsed().as_secs_f64()));
    let late = stack.create_credential_in(THIRD_ORG, "late").await;
    let target = stack.state_version().await;
    // From here every attempt to reach the edge is a page of a full state.
    let before = stack.pushed_to(&stack.edges[0]).await;
    let pool = witness.sign_many(ALICE, 200);

    step("start the edge: a full state in pages, while it keeps serving its old state");
    stack.edges[0].start().await;
    let back = Instant::now();
    let seen = watch_bootstrap(&stack, &stack.edges[0], target, witness, pool).await;
    let took = back.elapsed();
    let after = stack.pushed_to(&stack.edges[0]).await;
    // Attempts that failed while the edge was down were pages too (of the same full state, from its start).
    let pages = after.page - before.page;
    let taken = pages - (after.failures - before.failures);
    step(&format!(
        "in sync {:.2} s after the edge was back: {taken} page(s) taken ({pages} sent, failed attempts \
         included), {} delta(s), {} bytes; admin states {:?}; the edge reported up to page {} next; the witness \
         verified on all {} loads, {} of them while a full state was in progress",
        took.as_secs_f64(),
        after.delta - before.delta,
        after.bytes - before.bytes,
        seen.states,
        seen.max_next_page,
        seen.loads,
        seen.served_during_full,
    ));
    assert!(taken > 1, "the full state was not paged: {before:?} → {after:?}");
    assert!(stack.admin.log().contains("sending the edge a full state"), "{}", stack.admin.log());
    assert!(seen.states.iter().any(|s| s == "bootstrapping"), "the admin never showed bootstrapping: {seen:?}");
    assert_eq!(seen.states.last().map(String::as_str), Some("in_sync"), "{seen:?}");
    if seen.served_during_full == 0 {
        step("(no load happened to land while a page was being taken: the bootstrap was too quick to observe)");
    }
    assert_regions_at(&stack.edges[0], target).await;
    assert_board_regions_at(&stack, target).await;

    step("afterwards every change is in force in both regions, and every org's credentials verify");
    for c in &mut cases {
        c.expect = Expect::Ok;
    }
    cases.retain(|c| c.what != "doomed" && c.what != "gone");
    cases.extend([
        case("doomed (revoked while the edge was down)", doomed, REVOKED),
        case("gone (deleted while the edge was down)", gone, UNKNOWN),
        Case { what: "late (created after the prune)", org: THIRD_ORG, cred: &late, expect: Expect::Ok },
    ]);
    assert_in_force(&edges(&stack), &BOTH, &cases).await;
    step("done");
}

// ------------------------------------------------------------------ 4

/// Sends `request` sealed with `key` to `edge`: the HTTP status and the
/// ack, checked authentic and answering this request.
async fn send_sealed(edge: &Edge, key: &SyncKey, request: &SyncRequest) -> (u16, SyncAck) {
    let sealed = seal_request(request, key);
    let resp = embedgate_e2e::http()
        .post(format!("{}{}", edge.url, embedgate_core::sync::SYNC_PATH))
        .header(SIGNATURE_HEADER, &sealed.signature)
        .body(sealed.body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let signature = resp.headers().get(SIGNATURE_HEADER).map(|v| v.to_str().unwrap().to_owned());
    let body = resp.bytes().await.unwrap();
    let ack = open_ack(&body, signature.as_deref(), key, &request.nonce)
        .unwrap_or_else(|e| panic!("{}: {status} {e}: {}", edge.name, String::from_utf8_lossy(&body)));
    (status, ack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn a_version_jump_beyond_the_bound_is_refused_until_the_admin_vouches_again() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start_setup(1, &Setup { edge_vars: &TWO_REGIONS, ..Setup::default() }).await;
    let portal = stack.create_credential("Customer portal", ADMIN).await;
    let version = stack.wait_in_sync(PUSH_DEADLINE).await;
    let edge = &stack.edges[0];
    // The edge's lineage: a delta of it is judged by its versions (another lineage's is a gap).
    let lineage = assert_regions_at(edge, version).await;
    let key = SyncKey::from_printable(&stack.sync_key).unwrap();

    for to in [version + MAX_VERSION_JUMP + 1, MAX_VERSION] {
        step(&format!("a sealed delta {version} → {to} (a step of {}, the bound is 2^32): refused", to - version));
        let delta = SyncBody::Delta { from: version, to, last: true, orgs: vec![] };
        let tokens = portal.sign_many(ALICE, 2);
        let mut tries = 0;
        let health = loop {
            tries += 1;
            let request = SyncRequest::new(&lineage, to, delta.clone(), BTreeMap::new(), now_s()).unwrap();
            let (status, ack) = send_sealed(edge, &key, &request).await;
            assert_eq!((status, ack.outcome), (200, SyncOutcome::Failed), "{ack:?}");
            assert_eq!(ack.applied_version, version, "{ack:?}");
            assert_eq!(ack.regions.len(), 2, "{ack:?}");
            for r in &ack.regions {
                assert_eq!(r.version, version, "{ack:?}");
                assert!(r.error.as_deref().is_some_and(|e| e.contains("too far ahead")), "{ack:?}");
            }
            let (status, h) = edge.healthz_raw().await;
            if status == 503 {
                break h;
            }
            // The admin's probe (every RECONCILE) landed in between and cleared it: again.
            assert!(tries < 3, "/healthz never showed the refusal: {status} {h}");
            step("(the admin's probe cleared the error before /healthz was read; sending it again)");
        };
        assert_eq!((health["ok"].as_bool(), health["failing"].as_bool()), (Some(false), Some(true)), "{health}");
        assert_eq!(health["version"], version, "{health}");
        for r in health["regions"].as_array().unwrap() {
            assert_eq!(r["version"], version, "{health}");
            assert!(r["error"].as_str().is_some_and(|e| e.contains("too far ahead")), "{health}");
        }
        step(&format!("/healthz 503 failing: {}", health["regions"][0]["error"]));

        step("embeds keep working in both regions meanwhile");
        for (region, token) in REGIONS.iter().zip(&tokens) {
            let a = edge.embed_in(Some(region), ORG, Some(token), None).await;
            assert_ok(&a, &format!("{}/{region}", edge.name), &portal, ALICE);
        }
        let (still, _) = edge.healthz_raw().await;
        step(&format!("(/healthz was {still} after those loads)"));

        step("the admin's next probe at this exact state clears the error");
        let t0 = Instant::now();
        let mut states: Vec<String> = Vec::new();
        loop {
            let board = stack.edges_status().await;
            let state = board["edges"][0]["state"].as_str().unwrap().to_owned();
            if states.last() != Some(&state) {
                states.push(state);
            }
            let (code, h) = edge.healthz_raw().await;
            if code == 200 {
                assert_eq!((h["ok"].as_bool(), h["failing"].as_bool()), (Some(true), Some(false)), "{h}");
                break;
            }
            let within = RECONCILE * 3 + Duration::from_secs(5);
            assert!(t0.elapsed() < within, "the error is still there after {within:?}: {h}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(stack.wait_in_sync(PUSH_DEADLINE).await, version);
        // The probe clears the error before the edge answers it (ReplicaMeta::probed), so the admin
        // never hears of a message it did not send: its board is not expected to show `failing` here.
        step(&format!(
            "cleared {:.2} s later (probe every {} s); the admin's states for the edge meanwhile: {states:?}",
            t0.elapsed().as_secs_f64(),
            RECONCILE.as_secs()
        ));
        assert_regions_at(edge, version).await;
    }

    step("a delta to 2^53 is not a valid message: 400 malformed_payload, nothing recorded");
    let to = MAX_VERSION + 1;
    let delta = SyncBody::Delta { from: version, to, last: true, orgs: vec![] };
    let request = SyncRequest::new(&lineage, to, delta, BTreeMap::new(), now_s()).unwrap();
    let sealed = seal_request(&request, &key);
    let a = edge.sync_raw(sealed.body, Some(&sealed.signature)).await;
    assert_eq!((a.status, a.error()), (400, "malformed_payload"), "{:?}", a.body);
    assert_regions_at(edge, version).await;

    step("the edge still takes the admin's changes");
    let later = stack.create_credential("Later", ADMIN).await;
    assert_eq!(stack.wait_in_sync(PUSH_DEADLINE).await, version + 1);
    assert_in_force(&[edge], &BOTH, &[case("portal", &portal, Expect::Ok), case("later", &later, Expect::Ok)]).await;
    step("done");
}

// ------------------------------------------------------------------ 5

/// The `/healthz` field `group.name` as a number.
fn figure(h: &Value, group: &str, name: &str) -> u64 {
    h[group][name].as_u64().unwrap_or_else(|| panic!("no {group}.{name} in {h}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_cache_stays_within_a_small_bound() {
    const N: usize = 30;
    let _serial = SERIAL.lock().await;
    // 4 KiB holds a few credentials; a long staleness bound, so that every
    // fetch on the second pass is an eviction's doing, not the clock's.
    let vars = [("EMBEDGATE_CACHE_BYTES", "4096"), ("STATE_MAX_STALENESS_MS", "60000")];
    let stack = Stack::start_setup(1, &Setup { edge_vars: &vars, ..Setup::default() }).await;
    let mut creds = Vec::with_capacity(N);
    for i in 0..N {
        creds.push(stack.create_credential(&format!("cached-{i:02}"), ADMIN).await);
    }
    stack.wait_in_sync(PUSH_DEADLINE).await;
    let tokens = pyjwt_sign_batch(&creds.iter().map(|c| (c, ALICE, 2)).collect::<Vec<_>>());
    let edge = &stack.edges[0];
    let h0 = edge.healthz().await;

    step(&format!("first pass: {N} credentials, one fresh token each"));
    for (cred, tokens) in creds.iter().zip(&tokens) {
        assert_ok(&edge.embed(ORG, Some(&tokens[0]), None).await, &edge.name, cred, ALICE);
    }
    let h1 = edge.healthz().await;
    let cache = &h1["cache"];
    step(&format!("cache after it: {cache}; round trips {}", h1["round_trips"]));
    assert_eq!(figure(&h1, "cache", "max_bytes"), 4096, "{h1}");
    assert!(figure(&h1, "cache", "bytes") <= 4096, "{h1}");
    assert!(figure(&h1, "cache", "evictions") > 0, "{h1}");
    let held = figure(&h1, "cache", "entries");
    assert!(held < 10, "{h1}");
    let fetches = figure(&h1, "cache", "fetches") - figure(&h0, "cache", "fetches");
    let state_trips = figure(&h1, "round_trips", "state") - figure(&h0, "round_trips", "state");
    assert_eq!((fetches, state_trips), (N as u64, N as u64), "one fetch and one round trip per new credential: {h1}");

    step("second pass: every credential answers correctly; the evicted ones are fetched again");
    for (cred, tokens) in creds.iter().zip(&tokens) {
        assert_ok(&edge.embed(ORG, Some(&tokens[1]), None).await, &edge.name, cred, ALICE);
    }
    let h2 = edge.healthz().await;
    let hits = figure(&h2, "cache", "hits") - figure(&h1, "cache", "hits");
    let fetches = figure(&h2, "cache", "fetches") - figure(&h1, "cache", "fetches");
    let state_trips = figure(&h2, "round_trips", "state") - figure(&h1, "round_trips", "state");
    step(&format!(
        "second pass: {hits} hit(s), {fetches} fetch(es), {state_trips} state round trip(s); cache {}",
        h2["cache"]
    ));
    assert_eq!(hits + fetches, N as u64, "{h2}");
    assert_eq!(state_trips, fetches, "{h2}");
    assert!(fetches >= N as u64 - held, "at most the {held} held credentials can be hits: {h2}");
    assert!(figure(&h2, "cache", "bytes") <= 4096, "{h2}");
    step("done");
}

// ------------------------------------------------------------------ 6

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_load_are_counted() {
    const CONTINUATIONS: usize = 50;
    const FRESH: usize = 100;
    let _serial = SERIAL.lock().await;
    // The cache stays fresh for the whole test: loads that need no store ask none.
    let vars = [("STATE_MAX_STALENESS_MS", "60000")];
    let stack = Stack::start_setup(1, &Setup { edge_vars: &vars, ..Setup::default() }).await;
    let portal = stack.create_credential("Customer portal", ADMIN).await;
    stack.wait_in_sync(PUSH_DEADLINE).await;
    let edge = &stack.edges[0];
    let tokens = portal.sign_many(ALICE, FRESH + 1);

    step("a first load warms the cache and opens a session");
    let first = edge.embed(ORG, Some(&tokens[0]), None).await;
    assert_ok(&first, &edge.name, &portal, ALICE);
    let cookie = first.session_cookie().unwrap();
    let h0 = edge.healthz().await;

    step(&format!("{CONTINUATIONS} session continuations: no state and no replay round trip"));
    let t0 = Instant::now();
    for _ in 0..CONTINUATIONS {
        assert_ok(&edge.embed(ORG, None, Some(&cookie)).await, &edge.name, &portal, ALICE);
    }
    let continuation_ms = per_load(t0.elapsed(), CONTINUATIONS);
    let h1 = edge.healthz().await;
    let delta = |a: &Value, b: &Value, name: &str| figure(b, "round_trips", name) - figure(a, "round_trips", name);
    assert_eq!(delta(&h0, &h1, "embed_loads"), CONTINUATIONS as u64, "{h1}");
    assert_eq!((delta(&h0, &h1, "state"), delta(&h0, &h1, "replay")), (0, 0), "{h0} → {h1}");

    step(&format!("{FRESH} fresh tokens of the cached credential: one replay round trip each, no state"));
    let t0 = Instant::now();
    for token in &tokens[1..] {
        assert_ok(&edge.embed(ORG, Some(token), None).await, &edge.name, &portal, ALICE);
    }
    let fresh_ms = per_load(t0.elapsed(), FRESH);
    let h2 = edge.healthz().await;
    assert_eq!(delta(&h1, &h2, "embed_loads"), FRESH as u64, "{h2}");
    assert_eq!(delta(&h1, &h2, "replay"), FRESH as u64, "{h1} → {h2}");
    assert!(delta(&h1, &h2, "state") <= (FRESH as u64).div_ceil(100), "{h1} → {h2}");
    step(&format!(
        "continuations: {continuation_ms:.1} ms per load, round trips +{} state +{} replay +{} head; \
         fresh tokens: {fresh_ms:.1} ms per load, +{} state +{} replay +{} head (one isolate, wrangler dev)",
        delta(&h0, &h1, "state"),
        delta(&h0, &h1, "replay"),
        delta(&h0, &h1, "head"),
        delta(&h1, &h2, "state"),
        delta(&h1, &h2, "replay"),
        delta(&h1, &h2, "head"),
    ));
    step("done");
}

// ------------------------------------------------------------------ 7

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_credential_leaves_every_edge() {
    let _serial = SERIAL.lock().await;
    // Staleness 0: each region's answer is its store's.
    let vars = [TWO_REGIONS[0], TWO_REGIONS[1], ("STATE_MAX_STALENESS_MS", "0")];
    let stack = Stack::start_setup(2, &Setup { edge_vars: &vars, ..Setup::default() }).await;
    let legacy = stack.create_credential("Legacy integration", ADMIN).await;
    let version = stack.wait_in_sync(PUSH_DEADLINE).await;
    assert_in_force(&edges(&stack), &BOTH, &[case("legacy", &legacy, Expect::Ok)]).await;
    let first = stack.edges[0].embed(ORG, Some(&legacy.sign(ALICE)), None).await;
    let cookie = first.session_cookie().unwrap();

    step("an active credential cannot be deleted: 409 revoke_first, and it still verifies");
    let path = format!("/api/v1/orgs/{ORG}/credentials/{}", legacy.client_id);
    let (status, body) = stack.api("DELETE", &path, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("revoke_first")), "{body}");
    assert_eq!(stack.state_version().await, version);
    assert_in_force(&edges(&stack), &BOTH, &[case("legacy", &legacy, Expect::Ok)]).await;

    step("revoke it, then delete it");
    stack.post(&format!("/credentials/{}/revoke", legacy.client_id), json!({}), 200).await;
    let (status, body) = stack.api("DELETE", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_id"], legacy.client_id.as_str(), "{body}");
    assert_eq!(stack.wait_in_sync(PUSH_DEADLINE).await, version + 2);

    step("its tokens are unknown_client in both regions of both edges, on its org's URL and on another org's");
    let elsewhere = Case { what: "legacy", org: OTHER_ORG, cred: &legacy, expect: UNKNOWN };
    assert_in_force(&edges(&stack), &BOTH, &[case("legacy", &legacy, UNKNOWN), elsewhere]).await;
    let resumed = stack.edges[0].embed(ORG, None, Some(&cookie)).await;
    assert_eq!(resumed.status, 401, "a session of the deleted credential: {:?}", resumed.body);
    step(&format!("a session opened before: 401 {}", resumed.error()));
    let (status, body) = stack.api("GET", &path, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = stack.api("DELETE", &path, None).await;
    assert_eq!(status, 404, "{body}");

    step("its name is free again: a new credential of that name verifies; the old one stays unknown");
    let reborn = stack.create_credential("Legacy integration", ADMIN).await;
    assert_ne!(reborn.client_id, legacy.client_id);
    assert_eq!(stack.wait_in_sync(PUSH_DEADLINE).await, version + 3);
    let cases = [case("reborn", &reborn, Expect::Ok), case("legacy", &legacy, UNKNOWN)];
    assert_in_force(&edges(&stack), &BOTH, &cases).await;
    step("done");
}

// ------------------------------------------------------------------ 8

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn an_edge_pushed_beyond_the_admins_reach_shows_failing_and_heals_once_wiped() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::start_setup(1, &Setup { edge_vars: &TWO_REGIONS, ..Setup::default() }).await;
    let portal = stack.create_credential("Customer portal", ADMIN).await;
    let version = stack.wait_in_sync(PUSH_DEADLINE).await;
    let lineage = assert_regions_at(&stack.edges[0], version).await;
    let key = SyncKey::from_printable(&stack.sync_key).unwrap();

    step("with the admin stopped, two sealed deltas of its lineage, each a step of exactly 2^32 (taken)");
    stack.admin.stop();
    let mut at = version;
    for _ in 0..2 {
        let to = at + MAX_VERSION_JUMP;
        let delta = SyncBody::Delta { from: at, to, last: true, orgs: vec![] };
        let request = SyncRequest::new(&lineage, to, delta, BTreeMap::new(), now_s()).unwrap();
        let (status, ack) = send_sealed(&stack.edges[0], &key, &request).await;
        assert_eq!((status, ack.outcome, ack.applied_version), (200, SyncOutcome::Applied, to), "{ack:?}");
        at = to;
    }
    let (_, h) = stack.edges[0].healthz_raw().await;
    assert_eq!(h["version"], at, "{h}");

    step("the admin comes back: the edge is further ahead than it may follow; the board says failing, and why");
    stack.admin.start().await;
    let t0 = Instant::now();
    let listed = loop {
        let status = stack.edges_status().await;
        let listed = status["edges"][0].clone();
        if listed["last_error"].as_str().is_some_and(|e| e.contains("far beyond")) {
            break listed;
        }
        assert!(t0.elapsed() < HEAL_DEADLINE, "the admin does not report the divergence: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    step(&format!("admin board: {} ({})", listed["state"], listed["last_error"]));
    assert_eq!(listed["state"], "failing", "the edge answers; it is not unreachable: {listed}");
    let a = stack.edges[0].embed(ORG, Some(&portal.sign(ALICE)), None).await;
    assert_ok(&a, "the diverged edge", &portal, ALICE);

    step("the admin keeps asking it where it is, without vouching for its state");
    let vouched = stack.edges[0].healthz().await["last_sync_at"].as_i64().unwrap();
    let t0 = Instant::now();
    loop {
        let status = stack.edges_status().await;
        let listed = &status["edges"][0];
        assert_eq!(listed["state"], "failing", "{status}");
        // Asked again at least two seconds (of sent_at's resolution) after the state was last vouched for.
        if listed["last_attempt_at"].as_i64().unwrap() >= vouched + 2 {
            step(&format!("{} probe(s) so far; last at {}", listed["probes"], listed["last_attempt_at"]));
            break;
        }
        assert!(t0.elapsed() < HEAL_DEADLINE, "the admin stopped asking the diverged edge: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = stack.edges[0].healthz().await;
    assert_eq!(h["last_sync_at"], vouched, "a re-check vouched for the diverged state: {h}");

    step("a change on the admin does not reach it");
    let later = stack.create_credential("Later", ADMIN).await;
    let target = stack.state_version().await;
    let a = stack.edges[0].embed(ORG, Some(&later.sign(ALICE)), None).await;
    assert_refused(&a, "the diverged edge", 401, "unknown_client");

    step("wipe the edge as the board says: the admin notices and sends it a full state");
    stack.edges[0].stop().await;
    stack.edges[0].wipe_state();
    stack.edges[0].start().await;
    let back = Instant::now();
    let t0 = Instant::now();
    loop {
        let status = stack.edges_status().await;
        let listed = &status["edges"][0];
        if listed["state"] == "in_sync" && listed["applied_version"] == target {
            break;
        }
        assert!(t0.elapsed() < HEAL_DEADLINE, "the wiped edge is not brought back: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    step(&format!("in sync at {target} {:.2} s after the wiped edge was back", back.elapsed().as_secs_f64()));
    assert_eq!(assert_regions_at(&stack.edges[0], target).await, lineage);
    let cases = [case("portal", &portal, Expect::Ok), case("later", &later, Expect::Ok)];
    assert_in_force(&edges(&stack), &BOTH, &cases).await;
    step("done");
}
