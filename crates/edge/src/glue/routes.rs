//! The fetch handler: parse the request, call core, map the result.

use embedgate_core::sync::{
    check_signature_header, open_request, seal_ack, state_age_s, state_too_old, SyncAck, SyncError, SyncOutcome,
    MAX_SYNC_BYTES, SIGNATURE_HEADER, SYNC_PATH,
};
use embedgate_core::{
    embed_token, origin_of, query_without_token, EdgeVerifier, EmbedContext, EmbedTarget, Session, VerifyError,
    SESSION_COOKIE,
};
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt as _;
use worker::{event, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result};

use super::cache::{self, store};
use super::config::{self, Config};
use super::replay::{self, Verdict};
use super::store::Applied;
use super::{now_s, REPLAY_BINDING};
use crate::render;

/// Every request.
#[event(fetch)]
pub async fn main(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let json = render::wants_json(req.headers().get("accept")?.as_deref());
    let config = match config::get(&env) {
        Ok(config) => config,
        Err(config::Unconfigured(why)) => {
            worker::console_error!("edge unconfigured: {why}");
            return refusal(503, "edge_unconfigured", "the edge is not configured (see its logs)", json, None);
        }
    };
    let path = req.path();
    let result = match path.as_str() {
        "/healthz" => healthz(&env, &config).await,
        SYNC_PATH => sync(req, &env, &config).await,
        "/.well-known/embedgate/passthrough" if config.bench_routes => passthrough(),
        _ => embed(req, &env, &ctx, &config, json).await,
    };
    // Internal failures are opaque: the detail goes to the log, never to the client.
    result.or_else(|e| {
        worker::console_error!("internal error on {path}: {e}");
        refusal(500, "internal", "the edge failed to handle this request", json, None)
    })
}

fn with_common_headers(mut resp: Response) -> Result<Response> {
    let h = resp.headers_mut();
    h.set("cache-control", "no-store")?;
    h.set("referrer-policy", "no-referrer")?;
    h.set("x-content-type-options", "nosniff")?;
    Ok(resp)
}

fn json_response(status: u16, body: String) -> Result<Response> {
    let mut resp = Response::ok(body)?.with_status(status);
    resp.headers_mut().set("content-type", "application/json")?;
    with_common_headers(resp)
}

fn html_response(status: u16, body: String) -> Result<Response> {
    with_common_headers(Response::from_html(body)?.with_status(status))
}

fn refusal(status: u16, code: &str, message: &str, json: bool, clear_cookie: Option<String>) -> Result<Response> {
    let mut resp = if json {
        json_response(status, render::error_json(code, message))?
    } else {
        let mut resp = html_response(status, render::error_html(status, code, message))?;
        resp.headers_mut().set("content-security-policy", &render::refusal_csp())?;
        resp
    };
    if let Some(cookie) = clear_cookie {
        resp.headers_mut().append("set-cookie", &cookie)?;
    }
    Ok(resp)
}

/// The applied version and how old it is; 503 when the edge fails closed
/// (older than `EMBEDGATE_MAX_STATE_AGE`), so a load balancer can route away.
async fn healthz(env: &Env, config: &Config) -> Result<Response> {
    let meta = cache::meta(env).await?;
    let now = now_s();
    let stale = state_too_old(meta.synced_at, now, config.max_state_age_s);
    let body = serde_json::json!({
        "ok": !stale,
        "version": meta.version,
        "issued_at": meta.issued_at,
        // Until when the admin vouched for this state (its latest authentic push or probe).
        "last_sync_at": meta.synced_at,
        "age_s": state_age_s(meta.synced_at, now),
        "max_state_age_s": config.max_state_age_s,
        "stale": stale,
        "now": now,
    });
    json_response(if stale { 503 } else { 200 }, body.to_string())
}

fn passthrough() -> Result<Response> {
    json_response(200, r#"{"ok":true,"passthrough":true}"#.to_owned())
}

// ------------------------------------------------------------------ sync

fn sync_refusal(e: &SyncError) -> Result<Response> {
    json_response(e.http_status(), render::error_json(e.code(), &e.to_string()))
}

/// How long a sync body may take to arrive (the admin sends it at once).
const SYNC_BODY_DEADLINE: Duration = Duration::from_secs(10);

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

async fn sync(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
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
    let request = match open_request(&body, signature.as_deref(), &config.sync) {
        Ok(request) => request,
        Err(e) => return sync_refusal(&e),
    };
    let vouched = Headers::new();
    vouched.set("x-vouched-at", &request.vouched_at(now_s()).to_string())?;
    let applied: Applied = match &request.snapshot {
        Some(snapshot) => {
            // Authentic, but consistent? Checked before it is stored.
            if let Err(e) = snapshot.check() {
                return json_response(422, render::error_json("inconsistent_state", &e.to_string()));
            }
            let headers = vouched;
            headers.set("x-version", &snapshot.version.to_string())?;
            headers.set("x-issued-at", &snapshot.issued_at.to_string())?;
            headers.set(SIGNATURE_HEADER, signature.as_deref().unwrap_or_default())?;
            let text = String::from_utf8(body).map_err(|_| worker::Error::RustError("body is not UTF-8".into()))?;
            store(env, Method::Post, "/apply", headers, Some(text)).await?.json().await?
        }
        None => store(env, Method::Post, "/touch", vouched, None).await?.json().await?,
    };
    // Installed before anything else is awaited: once the store (and so
    // `/healthz`) shows the new version, this isolate verifies with it too.
    if applied.outcome == SyncOutcome::Applied {
        if let Some(snapshot) = request.snapshot {
            cache::install(snapshot, config);
        }
    }
    cache::note_vouched(applied.meta.synced_at);
    let usage = cache::usage_after(env, request.usage_after).await?;
    let ack = SyncAck {
        applied_version: applied.meta.version,
        applied_issued_at: applied.meta.issued_at,
        outcome: applied.outcome,
        usage: usage.usage,
        usage_cursor: usage.cursor,
        nonce: request.nonce,
    };
    let sealed = seal_ack(&ack, &config.sync);
    let status = if ack.outcome == SyncOutcome::Stale { 409 } else { 200 };
    let mut resp = json_response(status, String::from_utf8(sealed.body).unwrap_or_default())?;
    resp.headers_mut().set(SIGNATURE_HEADER, &sealed.signature)?;
    Ok(resp)
}

// ------------------------------------------------------------------ embeds

async fn embed(req: Request, env: &Env, ctx: &Context, config: &Config, json: bool) -> Result<Response> {
    let url = req.url()?;
    let Some(target) = EmbedTarget::parse(url.path()) else {
        return refusal(404, "not_found", "no such page on this edge", json, None);
    };
    if !matches!(req.method(), Method::Get | Method::Head) {
        let mut resp = refusal(405, "method_not_allowed", "embeds are loaded with GET", json, None)?;
        resp.headers_mut().set("allow", "GET, HEAD")?;
        return Ok(resp);
    }
    let verifier = cache::current(env, config).await?;
    let now = now_s();
    if state_too_old(cache::vouched_at(), now, config.max_state_age_s) {
        // Fail closed: a revocation may be waiting on the other side of a partition.
        let why = "this edge has not heard from the admin for longer than its bound \
                   (EMBEDGATE_MAX_STATE_AGE); it refuses embeds until it does";
        let mut resp = refusal(503, "state_stale", why, json, None)?;
        resp.headers_mut().set("retry-after", "5")?;
        return Ok(resp);
    }
    let origin_header = req.headers().get("origin")?.filter(|o| o != "null");
    let referer = req.headers().get("referer")?;
    let origin = origin_header.as_deref().or_else(|| referer.as_deref().and_then(origin_of));
    let ectx = EmbedContext { org: Some(target.org), origin };
    let query = url.query().unwrap_or_default();
    let cookie_header = req.headers().get("cookie")?;

    let (session, new_cookie) = match embed_token(query) {
        Err(e) => return refuse(&e, json, None),
        Ok(Some(token)) => {
            match first_load(&verifier, &token, now, &ectx, env, config, cookie_header.as_deref()).await? {
                Ok(found) => found,
                Err(e) => return refuse(&e, json, None),
            }
        }
        Ok(None) => {
            let Some(value) = render::cookie(cookie_header.as_deref(), SESSION_COOKIE) else {
                let e = VerifyError::MalformedToken("no :jwt parameter and no edge session");
                return refuse(&e, json, None);
            };
            match verifier.resume_session(value, now, &ectx) {
                Ok(session) => (session, None),
                Err(e) => {
                    return refuse(&e, json, Some(render::clear_session_cookie(target.org, config.secure_cookie)))
                }
            }
        }
    };

    if let Some(row) = cache::note_use(&session.client_id, now) {
        let env = env.clone();
        ctx.wait_until(async move {
            let body = serde_json::to_string(&[row]).unwrap_or_default();
            if let Err(e) = store(&env, Method::Post, "/usage", Headers::new(), Some(body)).await {
                worker::console_error!("usage report failed: {e}");
            }
        });
    }

    let frame_ancestors = verifier
        .credential(&session.client_id)
        .map_or_else(|| "frame-ancestors 'none'".to_owned(), |c| c.policy.allowed_origins.frame_ancestors());
    // A session check (JSON, no `:jwt`, as the demo page's heartbeat sends)
    // answers the identity and sets no cookie: only first loads mint one.
    let (mut resp, csp) = if json {
        (json_response(200, render::success_json(&session))?, frame_ancestors)
    } else if let Some(origin_url) = &config.origin_url {
        (forward(&req, origin_url, url.path(), query, &session).await?, frame_ancestors)
    } else {
        let heartbeat = config.session_ttl_s > 0;
        let page = render::demo_workbook(target.kind.as_str(), target.id, &session, heartbeat);
        (html_response(200, page)?, render::page_csp(&frame_ancestors))
    };
    let h = resp.headers_mut();
    h.set("content-security-policy", &csp)?;
    if let Some(value) = new_cookie {
        let max_age = session.exp.saturating_sub(now);
        h.append("set-cookie", &render::session_cookie(target.org, &value, max_age, config.secure_cookie))?;
    }
    Ok(resp)
}

fn refuse(e: &VerifyError, json: bool, clear_cookie: Option<String>) -> Result<Response> {
    refusal(e.http_status(), e.code(), &e.to_string(), json, clear_cookie)
}

/// A first load: verify the token, then spend its `jti` (last, as §4 orders),
/// then open a session. The outer `Result` is an internal failure.
async fn first_load(
    edge: &EdgeVerifier,
    token: &str,
    now: i64,
    ectx: &EmbedContext<'_>,
    env: &Env,
    config: &Config,
    cookies: Option<&str>,
) -> Result<std::result::Result<(Session, Option<String>), VerifyError>> {
    let verified = match edge.verify(token, now, ectx) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let client_id = verified.credential().client_id.as_str();
    let (key, shard) = replay::key(client_id, &verified.jti());
    let until = verified.exp().saturating_add(i64::try_from(edge.validation().leeway_s).unwrap_or(i64::MAX));
    let stub = env.durable_object(REPLAY_BINDING)?.id_from_name(&shard)?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(&replay::Use { k: key, until })?.into()));
    let verdict: Verdict =
        stub.fetch_with_request(Request::new_with_init("https://replay/use", &init)?).await?.json().await?;
    if !verdict.first {
        // A reload of the same embed URL: the user's own live session for this
        // credential and user carries on; anyone else gets `replayed`.
        let resumed = render::cookie(cookies, SESSION_COOKIE)
            .and_then(|c| edge.resume_session(c, now, ectx).ok())
            .filter(|s| s.client_id == client_id && s.sub == verified.sub());
        return Ok(resumed.map(|s| (s, None)).ok_or(VerifyError::Replayed));
    }
    let session = EdgeVerifier::session_for(&verified, now, config.session_ttl_s);
    let cookie = (config.session_ttl_s > 0).then(|| edge.seal_session(&session, now)).flatten();
    Ok(Ok((session, cookie)))
}

/// Forwards a verified embed load to the origin with the identity headers
/// (architecture.md §5). Only a few request headers go along; the identity headers
/// are set by the edge alone, so a client cannot inject them.
async fn forward(req: &Request, origin_url: &str, path: &str, query: &str, session: &Session) -> Result<Response> {
    let stripped = query_without_token(query);
    let target =
        if stripped.is_empty() { format!("{origin_url}{path}") } else { format!("{origin_url}{path}?{stripped}") };
    let headers = Headers::new();
    for name in ["accept", "accept-language", "user-agent"] {
        if let Some(v) = req.headers().get(name)? {
            headers.set(name, &v)?;
        }
    }
    headers.set("x-embed-user", &session.sub)?;
    headers.set("x-embed-client-id", &session.client_id)?;
    headers.set("x-embed-org", &session.org)?;
    if let Some(t) = session.account_type {
        headers.set("x-embed-account-type", t.as_str())?;
    }
    headers.set("x-embed-teams", &serde_json::to_string(&session.teams)?)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let upstream = Fetch::Request(Request::new_with_init(&target, &init)?).send().await?;
    // A fresh response: the origin's headers are copied, then the edge's own set over them.
    let status = upstream.status_code();
    let headers = Headers::new();
    for (k, v) in upstream.headers().entries() {
        if !matches!(k.as_str(), "set-cookie" | "content-security-policy" | "content-length" | "transfer-encoding") {
            headers.append(&k, &v)?;
        }
    }
    let (_, body) = upstream.into_parts();
    with_common_headers(Response::from_body(body)?.with_status(status).with_headers(headers))
}
