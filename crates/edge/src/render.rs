//! What the edge writes back, as pure functions (tested natively): content
//! negotiation, the JSON and HTML bodies of refusals, the built-in demo
//! workbook, their Content-Security-Policy, and the session cookie header.
//! Nothing here echoes a token.
//!
//! # What the pages tell the framing window
//!
//! The host app cannot read a cross-origin iframe, so the edge's HTML pages
//! post to `window.parent` (only when framed; nothing posted is secret, and
//! the token never is):
//!
//! - a refusal page: `{type: "embedgate:error", code, status}` (the §4 code
//!   and the HTTP status), once, on load, to any origin (`"*"`);
//! - the demo workbook: `{type: "embedgate:loaded", sub, client_id, org, exp}`
//!   on load; then, when the browser holds an edge session, it asks its own
//!   path (without `:jwt`, on the session cookie, as JSON) every 250 ms. A
//!   4xx answer ends the embed: the page replaces its `<main>` with a refusal
//!   view and posts `{type: "embedgate:error", code, status}`, then stops. A
//!   network error or a 5xx is retried after 2 s and shows nothing. (If the
//!   very first check finds no session at all, `malformed_token`, the browser
//!   did not keep the cookie: the page stops checking quietly rather than end
//!   a good embed.)
//! - **refresh in place** (the demo workbook with a session): it posts
//!   `{type: "embedgate:expiring", exp}` when the session's end (`exp`, by
//!   the edge's clock) is nearer than 20% of `SESSION_TTL_S` (at most 30 s,
//!   at least 1 s), and again every third of that until refreshed. It takes
//!   `{type: "embedgate:refresh", jwt}` only from `window.parent` and only
//!   from an origin the credential allows (`*`: any; `'self'`: the edge's);
//!   anything else is ignored. It sends the token to its own edge
//!   (`GET <path>?:jwt=…&:refresh=1`, JSON, on the session cookie), which
//!   verifies it with every rule, replay included, and the refresh rule (same
//!   credential and user), and sets the new session's cookie; then it posts
//!   `{type: "embedgate:refreshed", exp}`, or on a refusal
//!   `{type: "embedgate:error", code, status, refresh: true}` and goes on
//!   until its session ends. The page never reloads.
//!
//! The demo workbook posts to the parent's origin when it knows it
//! (`location.ancestorOrigins`, or the origin a refresh came from), else to
//! the credential's one allowed origin, else to `"*"`.
//!
//! Both pages show the code in `<code id="embedgate-error" data-code="…"
//! data-status="…">`. The scripts are constants: the per-page values travel
//! in a JSON data block, so the CSP allows exactly these scripts by hash.

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use embedgate_core::{Session, SESSION_COOKIE};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Whether the client asked for JSON (`Accept` names `application/json`).
pub fn wants_json(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .any(|part| part.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")))
    })
}

/// The JSON error body of architecture.md §4.
pub fn error_json(code: &str, message: &str) -> String {
    json!({ "error": code, "message": message }).to_string()
}

/// The JSON body of a verified embed load (architecture.md §5). `exp`:
/// when the edge session the browser holds after this answer ends (a new
/// one, a refreshed one, or the one it sent); absent without a session.
pub fn success_json(session: &Session, exp: Option<i64>) -> String {
    let mut body = json!({
        "ok": true,
        "sub": session.sub,
        "client_id": session.client_id,
        "org": session.org,
        "account_type": session.account_type,
        "teams": session.teams,
    });
    if let Some(exp) = exp {
        body["exp"] = json!(exp);
    }
    body.to_string()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7fb}\
main{max-width:720px;margin:40px auto;padding:28px 32px;background:#fff;border-radius:12px;box-shadow:0 1px 3px #0002}\
h1{font-size:20px;margin:0 0 8px}code{background:#eef0f6;padding:1px 6px;border-radius:4px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px}dt{color:#5b6478}dd{margin:0}\
.bar{display:flex;gap:12px;align-items:end;height:120px;margin:20px 0}.bar div{flex:1;background:#4f6bed;border-radius:4px 4px 0 0}\
.muted{color:#5b6478;font-size:13px}.filters{display:flex;gap:12px;align-items:center;margin:16px 0 0}\
select{font:inherit;padding:4px 8px;border-radius:6px;border:1px solid #c5cad6}";

/// The refusal page's script: tells the framing window the code and status
/// shown in `#embedgate-error`.
pub const ERROR_SCRIPT: &str = r#"(function () {
  "use strict";
  var e = document.getElementById("embedgate-error");
  if (e && window.parent !== window) {
    window.parent.postMessage({
      type: "embedgate:error",
      code: e.getAttribute("data-code"),
      status: Number(e.getAttribute("data-status"))
    }, "*");
  }
})();"#;

/// The demo workbook's script: announces the load, then watches the session
/// (see the module docs). Reads its values from `#embedgate-embed`.
pub const DEMO_SCRIPT: &str = r#"(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("embedgate-embed").textContent);
  var framed = window.parent !== window;
  var origins = Array.isArray(data.origins) ? data.origins : [];
  function allowed(origin) {
    return origins.indexOf("*") >= 0 || origins.indexOf(origin) >= 0 ||
      (origins.indexOf("'self'") >= 0 && origin === location.origin);
  }
  // Where messages go: the parent's origin once known (the browser's ancestor list, or a
  // refresh it sent), else the one concrete allowed origin, else "*" (nothing posted is secret).
  var target = "*";
  var concrete = origins.filter(function (o) { return o !== "*"; })
    .map(function (o) { return o === "'self'" ? location.origin : o; });
  var ancestors = location.ancestorOrigins;
  if (ancestors && ancestors.length && allowed(ancestors[0])) {
    target = ancestors[0];
  } else if (concrete.length === 1) {
    target = concrete[0];
  }
  function post(message) {
    if (framed) { window.parent.postMessage(message, target); }
  }
  var bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  var instance = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  document.getElementById("embedgate-instance").textContent = instance;
  var filter = document.getElementById("embedgate-filter");
  var shown = document.getElementById("embedgate-filter-shown");
  filter.addEventListener("change", function () { shown.textContent = filter.value; });
  var session = document.getElementById("embedgate-session");
  var exp = typeof data.exp === "number" ? data.exp : null;
  function showExp() {
    if (exp === null) { return; }
    session.setAttribute("data-exp", String(exp));
    session.textContent = "Session until " + new Date(exp * 1000).toLocaleTimeString();
  }
  showExp();
  post({ type: "embedgate:loaded", sub: data.sub, client_id: data.client_id, org: data.org, exp: exp });
  if (!data.heartbeat) { return; }
  var ended = false;
  var first = true;
  function refuse(code, status) {
    ended = true;
    var h1 = document.createElement("h1");
    h1.textContent = "This embed has ended";
    var shownCode = document.createElement("code");
    shownCode.id = "embedgate-error";
    shownCode.setAttribute("data-code", code);
    shownCode.setAttribute("data-status", String(status));
    shownCode.textContent = code;
    var p = document.createElement("p");
    p.append("Reason code: ", shownCode, " (HTTP " + status + ")");
    var main = document.querySelector("main");
    main.setAttribute("role", "alert");
    main.replaceChildren(h1, p);
    post({ type: "embedgate:error", code: code, status: status });
  }
  async function beat() {
    var delay = 250;
    try {
      var r = await fetch(location.pathname, {
        headers: { accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store"
      });
      if (r.status >= 400 && r.status < 500) {
        var body = await r.json().catch(function () { return null; });
        var code = body && typeof body.error === "string" ? body.error : "http_" + r.status;
        if (first && code === "malformed_token") {
          console.warn("embedgate: no edge session (cookie not kept); not watching for revocation");
          return;
        }
        refuse(code, r.status);
        return;
      }
      if (r.ok) { first = false; } else { delay = 2000; }
    } catch (e) {
      delay = 2000;
    }
    setTimeout(beat, delay);
  }
  setTimeout(beat, 250);
  if (exp === null) { return; }
  // Refresh in place: announce the end ahead (20% of the session TTL, at most 30 s, at least
  // 1 s) and again until a refresh lands; the edge's clock, as its `now` says, decides.
  var skew = data.now * 1000 - Date.now();
  var lead = Math.max(1, Math.min(data.ttl * 0.2, 30));
  var timer = null;
  var busy = false;
  var refreshes = 0;
  function left() { return exp * 1000 - skew - Date.now(); }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(expiring, Math.max(0, left() - lead * 1000));
  }
  function expiring() {
    if (ended || left() <= 0) { return; }
    post({ type: "embedgate:expiring", exp: exp });
    timer = setTimeout(expiring, Math.max(250, lead * 1000 / 3));
  }
  async function refresh(jwt) {
    busy = true;
    var status = 0;
    var code = "network";
    try {
      var r = await fetch(location.pathname + "?:jwt=" + encodeURIComponent(jwt) + "&:refresh=1", {
        headers: { accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store"
      });
      var body = await r.json().catch(function () { return null; });
      status = r.status;
      if (r.ok && body && typeof body.exp === "number") {
        exp = body.exp;
        refreshes += 1;
        session.setAttribute("data-refreshes", String(refreshes));
        showExp();
        schedule();
        post({ type: "embedgate:refreshed", exp: exp });
        busy = false;
        return;
      }
      code = body && typeof body.error === "string" ? body.error : "http_" + r.status;
    } catch (e) {
      code = "network";
    }
    busy = false;
    // The embed goes on until its session ends; the heartbeat says if it has.
    post({ type: "embedgate:error", code: code, status: status, refresh: true });
  }
  window.addEventListener("message", function (event) {
    if (!framed || event.source !== window.parent || !allowed(event.origin)) { return; }
    var m = event.data;
    if (!m || typeof m !== "object" || m.type !== "embedgate:refresh") { return; }
    if (typeof m.jwt !== "string" || m.jwt.length === 0 || m.jwt.length > 8192 || ended || busy) { return; }
    target = event.origin;
    session.setAttribute("data-accepted", String(Number(session.getAttribute("data-accepted") || "0") + 1));
    refresh(m.jwt);
  });
  schedule();
})();"#;

/// The CSP source (`'sha256-…'`) that allows exactly `script`.
pub fn script_hash(script: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(script.as_bytes())))
}

static ERROR_SCRIPT_HASH: LazyLock<String> = LazyLock::new(|| script_hash(ERROR_SCRIPT));
static DEMO_SCRIPT_HASH: LazyLock<String> = LazyLock::new(|| script_hash(DEMO_SCRIPT));

/// The Content-Security-Policy of the demo workbook: `frame_ancestors` (the
/// credential's whole `frame-ancestors …` directive), then nothing but its
/// own inline styles, [`DEMO_SCRIPT`] and same-origin fetches.
pub fn page_csp(frame_ancestors: &str) -> String {
    format!(
        "{frame_ancestors}; default-src 'none'; style-src 'unsafe-inline'; script-src {}; connect-src 'self'; img-src data:",
        *DEMO_SCRIPT_HASH
    )
}

/// The Content-Security-Policy of an HTML refusal: no `frame-ancestors`
/// (any host may show why its embed was refused), only [`ERROR_SCRIPT`].
pub fn refusal_csp() -> String {
    format!("default-src 'none'; style-src 'unsafe-inline'; script-src {}", *ERROR_SCRIPT_HASH)
}

/// JSON for a `<script>` element: `<`, `>`, `&` and U+2028/2029 as `\uXXXX`
/// escapes, so no value can close the element or start markup. (They only
/// occur inside JSON strings, where the escapes mean the same.)
pub fn script_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML page of a refusal: the code (what the host app's developer
/// needs) and a sentence, never the token. Serve it with [`refusal_csp`].
pub fn error_html(status: u16, code: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Embed refused</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head>\
         <body><main role=\"alert\"><h1>This embed could not be loaded</h1><p>{}</p>\
         <p>Reason code: <code id=\"embedgate-error\" data-code=\"{code}\" data-status=\"{status}\">{code}</code> (HTTP {status})</p>\
         <p class=\"muted\">If you are the developer of this page, see the error codes in embedgate's docs/architecture.md, §4.</p>\
         </main><script>{ERROR_SCRIPT}</script></body></html>",
        escape(message),
        code = escape(code),
    )
}

/// What the demo workbook needs to watch and refresh its edge session.
#[derive(Debug, Clone)]
pub struct Live<'a> {
    /// The edge's clock at this answer (Unix seconds): the page measures the
    /// session against it, not against its own clock.
    pub now: i64,
    /// `SESSION_TTL_S` (clamped): how early the page announces the end.
    pub ttl_s: i64,
    /// The credential's allowed origins (`*`, `'self'`, origins): the only
    /// parents the page takes a refresh from.
    pub origins: &'a [String],
}

/// The built-in demo workbook, served when no `ORIGIN_URL` is configured:
/// shows the verified identity so a developer sees the whole flow work, and
/// a filter and a page-instance id that show whether it was reloaded.
/// `live`: the browser holds an edge session, so the page watches it and
/// refreshes it in place (see the module docs). Serve it with [`page_csp`].
pub fn demo_workbook(kind: &str, id: &str, session: &Session, live: Option<&Live<'_>>) -> String {
    let mut data = json!({
        "sub": session.sub,
        "client_id": session.client_id,
        "org": session.org,
        "heartbeat": live.is_some(),
    });
    if let Some(live) = live {
        data["exp"] = json!(session.exp);
        data["now"] = json!(live.now);
        data["ttl"] = json!(live.ttl_s);
        data["origins"] = json!(live.origins);
    }
    let account_type = session.account_type.map_or("(not given)", embedgate_core::AccountType::as_str);
    let teams = if session.teams.is_empty() { "(none)".to_owned() } else { session.teams.join(", ") };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{id} · embedgate demo</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head>\
         <body><main><h1>Demo {kind}: {id}</h1>\
         <p id=\"embedgate-verified\" data-sub=\"{sub}\" data-client-id=\"{client_id}\">\
         Verified embed for <strong>{sub}</strong>.</p>\
         <div class=\"filters\"><label for=\"embedgate-filter\">Region</label><select id=\"embedgate-filter\">\
         <option value=\"all\">All regions</option><option value=\"north\">North</option><option value=\"south\">South</option>\
         <option value=\"east\">East</option><option value=\"west\">West</option></select>\
         <span>Showing <strong id=\"embedgate-filter-shown\">all</strong></span></div>\
         <div class=\"bar\" aria-hidden=\"true\"><div style=\"height:40%\"></div><div style=\"height:65%\"></div>\
         <div style=\"height:52%\"></div><div style=\"height:88%\"></div><div style=\"height:71%\"></div></div>\
         <dl><dt>Organization</dt><dd>{org}</dd><dt>User</dt><dd>{sub}</dd><dt>Account type</dt><dd>{account_type}</dd>\
         <dt>Teams</dt><dd>{teams}</dd><dt>Client ID</dt><dd><code>{client_id}</code></dd></dl>\
         <p class=\"muted\">Page instance <code id=\"embedgate-instance\"></code> · <span id=\"embedgate-session\" \
         data-refreshes=\"0\" data-accepted=\"0\">No edge session</span></p>\
         <p class=\"muted\">Served by the embedgate edge because no ORIGIN_URL is configured.</p></main>\
         <script type=\"application/json\" id=\"embedgate-embed\">{data}</script><script>{DEMO_SCRIPT}</script></body></html>",
        data = script_json(&data),
        kind = escape(kind),
        id = escape(id),
        sub = escape(&session.sub),
        org = escape(&session.org),
        client_id = escape(&session.client_id),
        account_type = escape(account_type),
        teams = escape(&teams),
    )
}

/// The `Set-Cookie` value of a new edge session, scoped to the org's embeds.
/// `SameSite=None; Partitioned` lets it work inside the host app's iframe
/// (in a per-site partition); `secure` is off only for plain-HTTP development.
pub fn session_cookie(org: &str, value: &str, max_age_s: i64, secure: bool) -> String {
    let secure = if secure { "; Secure; SameSite=None; Partitioned" } else { "; SameSite=Lax" };
    format!("{SESSION_COOKIE}={value}; Path=/{org}/; Max-Age={max_age_s}; HttpOnly{secure}")
}

/// The `Set-Cookie` value that ends a session the edge refused.
pub fn clear_session_cookie(org: &str, secure: bool) -> String {
    session_cookie(org, "", 0, secure)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use embedgate_core::AccountType;

    use super::*;

    fn session() -> Session {
        Session {
            client_id: "c".repeat(32),
            org: "acme".into(),
            generation: 1,
            sub: "<script>@x".into(),
            account_type: Some(AccountType::Viewer),
            teams: vec!["a&b".into()],
            iat: 1,
            exp: 2,
        }
    }

    fn live() -> Live<'static> {
        static ORIGINS: LazyLock<Vec<String>> = LazyLock::new(|| vec!["https://host.test".to_owned()]);
        Live { now: 1, ttl_s: 600, origins: &ORIGINS }
    }

    #[test]
    fn the_live_page_carries_what_its_refresh_needs() {
        let page = demo_workbook("workbook", "wb-1", &session(), Some(&live()));
        let open = "<script type=\"application/json\" id=\"embedgate-embed\">";
        let block = page.split_once(open).unwrap().1.split_once("</script>").unwrap().0;
        let data: serde_json::Value = serde_json::from_str(block).unwrap();
        assert_eq!(data["heartbeat"], true);
        assert_eq!((data["exp"].as_i64(), data["now"].as_i64(), data["ttl"].as_i64()), (Some(2), Some(1), Some(600)));
        assert_eq!(data["origins"], json!(["https://host.test"]));
        for hook in ["id=\"embedgate-filter\"", "id=\"embedgate-instance\"", "id=\"embedgate-session\""] {
            assert!(page.contains(hook), "{hook}");
        }
        // The script takes refreshes only from its parent at an allowed origin, and asks its own edge.
        for needle in ["event.source !== window.parent", "allowed(event.origin)", "&:refresh=1", "embedgate:expiring"] {
            assert!(DEMO_SCRIPT.contains(needle), "{needle}");
        }
    }

    #[test]
    fn negotiation() {
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("text/html;q=0.9, Application/JSON;q=1")));
        assert!(!wants_json(Some("text/html,*/*")));
        assert!(!wants_json(None));
    }

    #[test]
    fn html_escapes_everything_it_shows() {
        let page = demo_workbook("workbook", "<wb>", &session(), Some(&live()));
        assert!(!page.contains("<script>@x") && !page.contains("<wb>") && page.contains("&lt;script&gt;@x"));
        assert!(page.contains("a&amp;b"));
        let page = error_html(401, "expired", "the token has <b>expired</b>");
        assert!(page.contains("data-code=\"expired\"") && page.contains("&lt;b&gt;"));
    }

    /// The text of the page's executable inline scripts (`<script>` with no attributes).
    fn inline_scripts(page: &str) -> Vec<&str> {
        page.split("<script>").skip(1).map(|rest| rest.split_once("</script>").unwrap().0).collect()
    }

    #[test]
    fn script_hash_is_the_csp_form_of_sha256() {
        // SHA-256 of the empty string, base64.
        assert_eq!(script_hash(""), "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='");
    }

    #[test]
    fn csp_allows_exactly_the_scripts_in_the_pages() {
        let page = demo_workbook("workbook", "wb-1", &session(), Some(&live()));
        assert_eq!(inline_scripts(&page), [DEMO_SCRIPT]);
        let csp = page_csp("frame-ancestors 'self' https://host.test");
        assert_eq!(
            csp,
            format!(
                "frame-ancestors 'self' https://host.test; default-src 'none'; style-src 'unsafe-inline'; \
                 script-src {}; connect-src 'self'; img-src data:",
                script_hash(inline_scripts(&page)[0])
            )
        );

        let page = error_html(401, "credential_revoked", "revoked");
        assert_eq!(inline_scripts(&page), [ERROR_SCRIPT]);
        assert!(page.contains("id=\"embedgate-error\" data-code=\"credential_revoked\" data-status=\"401\""));
        let csp = refusal_csp();
        assert_eq!(
            csp,
            format!(
                "default-src 'none'; style-src 'unsafe-inline'; script-src {}",
                script_hash(inline_scripts(&page)[0])
            )
        );
        assert!(!csp.contains("frame-ancestors") && !csp.contains("script-src 'unsafe"));
    }

    #[test]
    fn hostile_values_cannot_leave_the_data_block() {
        let hostile = "</script><script>alert(1)//\u{2028}\u{2029}&<!--";
        let mut s = session();
        s.sub = hostile.into();
        s.org = "</SCRIPT>".into();
        let page = demo_workbook("workbook", "wb-1", &s, None);
        // Still exactly the two script elements the page is made of.
        assert_eq!(page.matches("</script>").count(), 2, "{page}");
        assert_eq!(page.to_ascii_lowercase().matches("</script").count(), 2, "{page}");
        assert_eq!(inline_scripts(&page), [DEMO_SCRIPT]);
        let open = "<script type=\"application/json\" id=\"embedgate-embed\">";
        let block = page.split_once(open).unwrap().1.split_once("</script>").unwrap().0;
        assert!(!block.contains(['<', '>', '&', '\u{2028}', '\u{2029}']), "{block}");
        let data: serde_json::Value = serde_json::from_str(block).unwrap();
        assert_eq!((data["sub"].as_str(), data["org"].as_str()), (Some(hostile), Some("</SCRIPT>")));
        assert_eq!((data["client_id"].as_str(), data["heartbeat"].as_bool()), (Some(&*s.client_id), Some(false)));
    }

    #[test]
    fn script_json_escapes_only_inside_strings() {
        let v = json!({"a": "<&>\u{2028}\u{2029}", "b": [1, true, null]});
        let text = script_json(&v);
        assert_eq!(text, r#"{"a":"\u003c\u0026\u003e\u2028\u2029","b":[1,true,null]}"#);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie(Some("a=1; embedgate_session=x.y; b=2"), SESSION_COOKIE), Some("x.y"));
        assert_eq!(cookie(Some("embedgate_sessionx=1"), SESSION_COOKIE), None);
        assert_eq!(cookie(None, SESSION_COOKIE), None);
        let set = session_cookie("acme", "v", 600, true);
        assert_eq!(set, "embedgate_session=v; Path=/acme/; Max-Age=600; HttpOnly; Secure; SameSite=None; Partitioned");
        assert!(clear_session_cookie("acme", false).contains("Max-Age=0"));
    }

    #[test]
    fn bodies_are_json() {
        let v: serde_json::Value = serde_json::from_str(&success_json(&session(), None)).unwrap();
        assert_eq!((v["ok"].as_bool(), v["account_type"].as_str()), (Some(true), Some("viewer")));
        assert!(v.get("exp").is_none());
        let v: serde_json::Value = serde_json::from_str(&success_json(&session(), Some(2))).unwrap();
        assert_eq!(v["exp"], 2);
        let v: serde_json::Value = serde_json::from_str(&error_json("replayed", "m")).unwrap();
        assert_eq!(v["error"], "replayed");
    }
}
