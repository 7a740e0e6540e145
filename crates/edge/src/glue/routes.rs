//! The fetch handler: parse the request, call core, map the result.

use embedgate_core::origin::{self, AssertionClaims, ASSERTION_HEADER, JWKS_PATH};
use embedgate_core::sync::{state_age_s, state_too_old, SyncError, SYNC_PATH};
use embedgate_core::{
    embed_token, is_refresh, origin_of, query_without_token, CredentialRecord, EdgeVerifier, EmbedContext, EmbedTarget,
    Session, UnverifiedToken, VerifyError, MAX_TOKEN_BYTES, SESSION_COOKIE,
};
use futures_util::future::join_all;
use worker::{event, Context, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result};

use super::cache;
use super::config::{self, Config, OriginTarget};
use super::replay::{self, Verdict};
use super::{call, now_s, Purpose, HEAD_BINDING, REPLAY_BINDING};
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
        SYNC_PATH => super::sync::sync(req, &env, &config).await,
        JWKS_PATH => jwks(&req, &config, json),
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

pub(super) fn json_response(status: u16, body: String) -> Result<Response> {
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

/// Every region's applied version and how old it is, this isolate's cache
/// and round trips, and the replay scope; 503 when the edge fails closed
/// (older than `EMBEDGATE_MAX_STATE_AGE`) or a region could not take a
/// change, so a load balancer can route away. `version` is the lowest over
/// the regions.
async fn healthz(env: &Env, config: &Config) -> Result<Response> {
    let now = now_s();
    let metas = join_all(config.regions.iter().map(|r| cache::head_meta(env, *r))).await;
    let mut regions = Vec::with_capacity(metas.len());
    let (mut version, mut stale, mut failing) = (u64::MAX, false, false);
    let mut oldest_vouch = i64::MAX;
    let mut issued_at = 0;
    for (region, meta) in config.regions.iter().zip(metas) {
        let meta = meta?;
        let region_stale = state_too_old(meta.synced_at, now, config.max_state_age_s);
        version = version.min(meta.version);
        oldest_vouch = oldest_vouch.min(meta.synced_at);
        issued_at = meta.issued_at;
        stale |= region_stale;
        failing |= meta.error.is_some();
        regions.push(serde_json::json!({
            "region": region.as_str(),
            "lineage": meta.lineage,
            "version": meta.version,
            "issued_at": meta.issued_at,
            "last_sync_at": meta.synced_at,
            "age_s": state_age_s(meta.synced_at, now),
            "stale": region_stale,
            "full": meta.full,
            "error": meta.error,
        }));
    }
    let (trips, cache) = cache::stats(config);
    let ok = !stale && !failing;
    let body = serde_json::json!({
        "ok": ok,
        "version": if version == u64::MAX { 0 } else { version },
        "issued_at": issued_at,
        // Until when the admin vouched for every region's state (its latest authentic message).
        "last_sync_at": if oldest_vouch == i64::MAX { 0 } else { oldest_vouch },
        "age_s": state_age_s(if oldest_vouch == i64::MAX { 0 } else { oldest_vouch }, now),
        "max_state_age_s": config.max_state_age_s,
        "stale": stale,
        "failing": failing,
        "regions": regions,
        "cache": cache,
        "round_trips": trips,
        // Each separately deployed edge keeps its own used jtis: a token can be spent once per deployment.
        "replay_scope": "deployment",
        // The ids (public fingerprints) of the keys this edge holds, current first.
        "edge_keys": config.edge_keys.ids().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "sync_keys": config.sync.ids().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "now": now,
    });
    json_response(if ok { 200 } else { 503 }, body.to_string())
}

/// 405 `method_not_allowed` with `Allow: GET, HEAD`, saying `why`.
fn only_get(why: &str, json: bool) -> Result<Response> {
    let mut resp = refusal(405, "method_not_allowed", why, json, None)?;
    resp.headers_mut().set("allow", "GET, HEAD")?;
    Ok(resp)
}

/// The public keys of the identity assertion (RFC 7517), current first.
/// Cacheable for five minutes: a new key is published (with the edge key's
/// rotation) well before it signs for longer than that.
fn jwks(req: &Request, config: &Config, json: bool) -> Result<Response> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        return only_get("the key set is read with GET", json);
    }
    let mut resp = json_response(200, config.assertion.jwks())?;
    resp.headers_mut().set("cache-control", "public, max-age=300")?;
    Ok(resp)
}

fn passthrough() -> Result<Response> {
    json_response(200, r#"{"ok":true,"passthrough":true}"#.to_owned())
}

pub(super) fn sync_refusal(e: &SyncError) -> Result<Response> {
    json_response(e.http_status(), render::error_json(e.code(), &e.to_string()))
}

// ------------------------------------------------------------------ embeds

async fn embed(req: Request, env: &Env, ctx: &Context, config: &Config, json: bool) -> Result<Response> {
    let url = req.url()?;
    let Some(target) = EmbedTarget::parse(url.path()) else {
        return refusal(404, "not_found", "no such page on this edge", json, None);
    };
    if !matches!(req.method(), Method::Get | Method::Head) {
        return only_get("embeds are loaded with GET", json);
    }
    cache::count_load();
    let region = config.region_for(&req);
    let now = now_s();
    if config.max_state_age_s.is_some()
        && state_too_old(cache::vouched_at(env, region).await?, now, config.max_state_age_s)
    {
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
    let load = Load { env, config, region, now, ectx: &ectx };

    let token = embed_token(query);
    let token_in_url = matches!(token, Ok(Some(_)));
    // A refresh (the embed page sending a new token to extend its session in
    // place) is a JSON exchange; on a page load `:refresh` means nothing.
    let refresh = json && is_refresh(query);
    let Loaded { session, new_cookie, framing, has_cookie } = match token {
        Err(e) => return refuse(&e, json, None),
        Ok(Some(token)) => {
            let loaded = if refresh {
                load.refresh(&token, target.org, cookie_header.as_deref()).await?
            } else {
                load.first(&token, target.org, cookie_header.as_deref(), None).await?
            };
            match loaded {
                Ok(found) => found,
                Err(e) => return refuse(&e, json, None),
            }
        }
        Ok(None) => {
            let Some(value) = render::cookie(cookie_header.as_deref(), SESSION_COOKIE) else {
                let e = VerifyError::MalformedToken("no :jwt parameter and no edge session");
                return refuse(&e, json, None);
            };
            match load.resume(value).await? {
                Ok((session, framing)) => Loaded { session, new_cookie: None, framing, has_cookie: true },
                Err(e) => {
                    return refuse(&e, json, Some(render::clear_session_cookie(target.org, config.secure_cookie)))
                }
            }
        }
    };

    // A page load that brought its token in the URL and holds a session now
    // is sent on to the same URL without `:jwt` (other parameters untouched):
    // the spent token leaves the address bar, history, logs and Referer.
    let clean_url = token_in_url && !json && has_cookie;
    // Loads and refreshes count once (a redirect is not a load: the page it
    // leads to is); a session check (the heartbeat) only moves last seen.
    report_use(env, ctx, region, &session, now, (token_in_url || !json) && !clean_url);
    // The new session's cookie, set on whichever answer follows.
    let set_cookie = new_cookie
        .map(|value| render::session_cookie(target.org, &value, session.exp.saturating_sub(now), config.secure_cookie));

    if clean_url {
        let stripped = query_without_token(query);
        let location = if stripped.is_empty() { url.path().to_owned() } else { format!("{}?{stripped}", url.path()) };
        let mut resp = with_common_headers(Response::empty()?.with_status(303))?;
        let h = resp.headers_mut();
        h.set("location", &location)?;
        h.set("content-security-policy", &framing.frame_ancestors)?;
        if let Some(cookie) = &set_cookie {
            h.append("set-cookie", cookie)?;
        }
        return Ok(resp);
    }

    // A session check (JSON, no `:jwt`, as the demo page's heartbeat sends)
    // answers the identity and sets no cookie: only first loads and refreshes mint one.
    let frame_ancestors = framing.frame_ancestors;
    let (mut resp, csp) = if json {
        // `exp`: when the session the browser now holds ends (none without one).
        (json_response(200, render::success_json(&session, has_cookie.then_some(session.exp)))?, frame_ancestors)
    } else if let Some(target_origin) = &config.origin {
        let edge_origin = embedgate_core::origin_of(url.as_str()).unwrap_or_default();
        let sent = Forward { origin: target_origin, edge_origin, path: url.path(), query, session: &session, now };
        let (resp, origin_csp) = sent.send(&req, config).await?;
        (resp, origin::with_frame_ancestors(origin_csp.as_deref(), &frame_ancestors))
    } else {
        let live = (config.session_ttl_s > 0 && has_cookie).then(|| render::Live {
            now,
            ttl_s: config.session_ttl_s.clamp(0, embedgate_core::MAX_SESSION_TTL_S),
            origins: &framing.origins,
        });
        let page = render::demo_workbook(target.kind.as_str(), target.id, &session, live.as_ref());
        (html_response(200, page)?, render::page_csp(&frame_ancestors))
    };
    let h = resp.headers_mut();
    h.set("content-security-policy", &csp)?;
    if let Some(cookie) = &set_cookie {
        h.append("set-cookie", cookie)?;
    }
    Ok(resp)
}

/// Notes the credential's use; when the batch is due, reports it to the
/// region's head after the answer (`wait_until`).
fn report_use(env: &Env, ctx: &Context, region: embedgate_core::Region, session: &Session, now: i64, counted: bool) {
    if let Some(rows) = cache::note_use(session, now, counted) {
        let env = env.clone();
        ctx.wait_until(async move {
            let body = serde_json::to_string(&rows).unwrap_or_default();
            let head = cache::head_object(region);
            if let Err(e) =
                call(&env, HEAD_BINDING, &head, Some(region.as_str()), "/usage", Some(body), Purpose::Head).await
            {
                worker::console_error!("usage report failed: {e}");
            }
        });
    }
}

fn refuse(e: &VerifyError, json: bool, clear_cookie: Option<String>) -> Result<Response> {
    refusal(e.http_status(), e.code(), &e.to_string(), json, clear_cookie)
}

/// One embed load's circumstances.
struct Load<'a> {
    env: &'a Env,
    config: &'a Config,
    region: embedgate_core::Region,
    now: i64,
    ectx: &'a EmbedContext<'a>,
}

/// A load's outcome.
struct Loaded {
    /// The embed user's session.
    session: Session,
    /// A cookie to set (a first load's new session).
    new_cookie: Option<String>,
    /// Who may frame the embed.
    framing: Framing,
    /// Whether the browser holds a session after this answer (a new one, or
    /// the one it sent): only then may the URL lose its token.
    has_cookie: bool,
}

/// Who may frame an embed: the credential's allowed origins, as the CSP
/// directive and as the entries the demo page accepts refreshes from.
struct Framing {
    /// The credential's `frame-ancestors` directive.
    frame_ancestors: String,
    /// Its allowed origins' entries (`*`, `'self'`, origins).
    origins: Vec<String>,
}

impl Framing {
    /// The credential's; nobody's for an unknown one.
    fn of(record: Option<&CredentialRecord>) -> Self {
        match record {
            Some(r) => Self {
                frame_ancestors: r.policy.allowed_origins.frame_ancestors(),
                origins: r.policy.allowed_origins.entries().map(str::to_owned).collect(),
            },
            None => Self { frame_ancestors: "frame-ancestors 'none'".to_owned(), origins: Vec::new() },
        }
    }
}

impl Load<'_> {
    /// A first load: the header rules, the credential (the cache, else one
    /// round trip), every other check, then the `jti` spent at the org's
    /// replay guard (last, as §4 orders), then a session. `refreshing`: the
    /// live session a refresh extends; the token must then be its user's
    /// ([`EdgeVerifier::check_refresh`], before the `jti` is spent) and is
    /// never excused as a reload. The outer `Result` is an internal failure.
    async fn first(
        &self,
        token: &str,
        url_org: &str,
        cookies: Option<&str>,
        refreshing: Option<&Session>,
    ) -> Result<std::result::Result<Loaded, VerifyError>> {
        let (env, config, now) = (self.env, self.config, self.now);
        let parsed = match UnverifiedToken::parse(token, MAX_TOKEN_BYTES) {
            Ok(parsed) => parsed,
            Err(e) => return Ok(Err(e)),
        };
        // A bad header is refused before anything is looked up.
        if let Err(e) = parsed.check_header() {
            return Ok(Err(e));
        }
        let Some(kid) = parsed.kid().map(std::borrow::Cow::into_owned) else {
            return Ok(Err(VerifyError::UnknownClient));
        };
        let found = cache::credential(env, config, self.region, url_org, &kid).await?;
        let verified =
            match config.verifier.verify(parsed, now, self.ectx, |_| found.as_ref().map(|c| (&c.record, &c.keys))) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
        if let Some(current) = refreshing {
            if let Err(e) = EdgeVerifier::check_refresh(current, &verified) {
                return Ok(Err(e));
            }
        }
        let record = verified.credential();
        let framing = Framing::of(Some(record));
        let (client_id, org) = (record.client_id.as_str(), record.org.as_str());
        let (key, guard) = replay::key(org, client_id, &verified.jti());
        let until =
            verified.exp().saturating_add(i64::try_from(config.verifier.validation().leeway_s).unwrap_or(i64::MAX));
        let home = cache::home_region(config, org);
        let body = serde_json::to_string(&replay::Use { k: key, until })?;
        let verdict: Verdict =
            call(env, REPLAY_BINDING, &guard, Some(home.as_str()), "/use", Some(body), Purpose::Replay)
                .await?
                .json()
                .await?;
        if !verdict.first && refreshing.is_some() {
            return Ok(Err(VerifyError::Replayed));
        }
        if !verdict.first {
            // A reload of the same embed URL: the user's own live session for this
            // credential and user carries on; anyone else gets `replayed`.
            let own = render::cookie(cookies, SESSION_COOKIE)
                .and_then(|c| config.verifier.open_session(c, now).ok())
                .filter(|s| s.client_id == client_id && s.sub == verified.sub())
                .filter(|s| EdgeVerifier::check_session(s, Some(record), self.ectx).is_ok());
            return Ok(own
                .map(|session| Loaded { session, new_cookie: None, framing, has_cookie: true })
                .ok_or(VerifyError::Replayed));
        }
        let session = EdgeVerifier::session_for(&verified, now, config.session_ttl_s);
        let new_cookie = (config.session_ttl_s > 0).then(|| config.verifier.seal_session(&session, now)).flatten();
        let has_cookie = new_cookie.is_some();
        Ok(Ok(Loaded { session, new_cookie, framing, has_cookie }))
    }

    /// A refresh: the session it extends (re-checked as every request on it
    /// is), then the token as a first load that must be that session's user.
    /// A refused refresh leaves the cookie alone: the page's heartbeat ends
    /// the embed with the session's own reason if it has ended.
    async fn refresh(
        &self,
        token: &str,
        url_org: &str,
        cookies: Option<&str>,
    ) -> Result<std::result::Result<Loaded, VerifyError>> {
        let Some(value) = render::cookie(cookies, SESSION_COOKIE) else {
            return Ok(Err(VerifyError::MalformedToken("a refresh needs the edge session it extends")));
        };
        match self.resume(value).await? {
            Ok((current, _)) => self.first(token, url_org, cookies, Some(&current)).await,
            Err(e) => Ok(Err(e)),
        }
    }

    /// A load on the session cookie: opened, then re-checked against the
    /// credential's current record (the cache, else one round trip), so a
    /// revocation ends it.
    async fn resume(&self, cookie: &str) -> Result<std::result::Result<(Session, Framing), VerifyError>> {
        let session = match self.config.verifier.open_session(cookie, self.now) {
            Ok(session) => session,
            Err(e) => return Ok(Err(e)),
        };
        let found = cache::credential(self.env, self.config, self.region, &session.org, &session.client_id).await?;
        let record = found.as_ref().map(|c| &c.record);
        Ok(EdgeVerifier::check_session(&session, record, self.ectx).map(|()| (session, Framing::of(record))))
    }
}

/// One verified load forwarded to `ORIGIN_URL` (architecture.md §5).
struct Forward<'a> {
    origin: &'a OriginTarget,
    /// This edge's own origin (the assertion's `iss`).
    edge_origin: &'a str,
    path: &'a str,
    query: &'a str,
    session: &'a Session,
    now: i64,
}

impl Forward<'_> {
    /// Sends the load on with the identity: the `x-embed-*` headers
    /// ([`origin::header_value`]-encoded, so no claim can break the request)
    /// and the signed `x-embedgate-assertion`. Only a few request headers go
    /// along; the identity headers are set by the edge alone, so a client
    /// cannot inject them. Answers the origin's response (its cookies and
    /// framing headers dropped) and its Content-Security-Policy.
    async fn send(&self, req: &Request, config: &Config) -> Result<(Response, Option<String>)> {
        let (origin, session) = (self.origin, self.session);
        let stripped = query_without_token(self.query);
        let target = if stripped.is_empty() {
            format!("{}{}", origin.url, self.path)
        } else {
            format!("{}{}?{stripped}", origin.url, self.path)
        };
        let headers = Headers::new();
        for name in ["accept", "accept-language", "user-agent"] {
            if let Some(v) = req.headers().get(name)? {
                headers.set(name, &v)?;
            }
        }
        headers.set("x-embed-user", &origin::header_value(&session.sub))?;
        headers.set("x-embed-client-id", &session.client_id)?;
        headers.set("x-embed-org", &session.org)?;
        if let Some(t) = session.account_type {
            headers.set("x-embed-account-type", t.as_str())?;
        }
        headers.set("x-embed-teams", &origin::header_value(&serde_json::to_string(&session.teams)?))?;
        let jti = origin::new_assertion_id().ok_or_else(|| worker::Error::RustError("random source".into()))?;
        let claims =
            AssertionClaims::for_session(session, self.edge_origin, &origin.audience, self.path, &jti, self.now);
        headers.set(ASSERTION_HEADER, &config.assertion.sign(&claims))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let upstream = Fetch::Request(Request::new_with_init(&target, &init)?).send().await?;
        // A fresh response: the origin's headers are copied, then the edge's own set over them.
        let status = upstream.status_code();
        let origin_csp = upstream.headers().get("content-security-policy")?;
        let headers = Headers::new();
        for (k, v) in upstream.headers().entries() {
            if !matches!(k.as_str(), "set-cookie" | "content-security-policy" | "content-length" | "transfer-encoding")
            {
                headers.append(&k, &v)?;
            }
        }
        let (_, body) = upstream.into_parts();
        let resp = with_common_headers(Response::from_body(body)?.with_status(status).with_headers(headers))?;
        Ok((resp, origin_csp))
    }
}
