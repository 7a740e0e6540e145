//! What the edge writes back, as pure functions (tested natively): content
//! negotiation, the JSON and HTML bodies of refusals, the built-in demo
//! workbook, and the session cookie header. Nothing here echoes a token.

use embedgate_core::{Session, SESSION_COOKIE};
use serde_json::json;

/// Whether the client asked for JSON (`Accept` names `application/json`).
pub fn wants_json(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .any(|part| part.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")))
    })
}

/// The JSON error body of design §4.
pub fn error_json(code: &str, message: &str) -> String {
    json!({ "error": code, "message": message }).to_string()
}

/// The JSON body of a verified embed load (design §5).
pub fn success_json(session: &Session) -> String {
    json!({
        "ok": true,
        "sub": session.sub,
        "client_id": session.client_id,
        "org": session.org,
        "account_type": session.account_type,
        "teams": session.teams,
    })
    .to_string()
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
.muted{color:#5b6478;font-size:13px}";

/// The HTML page of a refusal: the code (what the host app's developer
/// needs) and a sentence, never the token.
pub fn error_html(status: u16, code: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Embed refused</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head>\
         <body><main role=\"alert\"><h1>This embed could not be loaded</h1><p>{}</p>\
         <p>Reason code: <code id=\"embedgate-error\" data-code=\"{code}\">{code}</code> (HTTP {status})</p>\
         <p class=\"muted\">If you are the developer of this page, see the error codes of embedgate's design, §4.</p>\
         </main></body></html>",
        escape(message),
        code = escape(code),
    )
}

/// The built-in demo workbook, served when no `ORIGIN_URL` is configured:
/// shows the verified identity so a developer sees the whole flow work.
pub fn demo_workbook(kind: &str, id: &str, session: &Session) -> String {
    let account_type = session.account_type.map_or("(not given)", embedgate_core::AccountType::as_str);
    let teams = if session.teams.is_empty() { "(none)".to_owned() } else { session.teams.join(", ") };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{id} · embedgate demo</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head>\
         <body><main><h1>Demo {kind}: {id}</h1>\
         <p id=\"embedgate-verified\" data-sub=\"{sub}\" data-client-id=\"{client_id}\">\
         Verified embed for <strong>{sub}</strong>.</p>\
         <div class=\"bar\" aria-hidden=\"true\"><div style=\"height:40%\"></div><div style=\"height:65%\"></div>\
         <div style=\"height:52%\"></div><div style=\"height:88%\"></div><div style=\"height:71%\"></div></div>\
         <dl><dt>Organization</dt><dd>{org}</dd><dt>User</dt><dd>{sub}</dd><dt>Account type</dt><dd>{account_type}</dd>\
         <dt>Teams</dt><dd>{teams}</dd><dt>Client ID</dt><dd><code>{client_id}</code></dd></dl>\
         <p class=\"muted\">Served by the embedgate edge because no ORIGIN_URL is configured.</p></main></body></html>",
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
            sub: "<script>@x".into(),
            account_type: Some(AccountType::Viewer),
            teams: vec!["a&b".into()],
            iat: 1,
            exp: 2,
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
        let page = demo_workbook("workbook", "<wb>", &session());
        assert!(!page.contains("<script>") && !page.contains("<wb>") && page.contains("&lt;script&gt;@x"));
        assert!(page.contains("a&amp;b"));
        let page = error_html(401, "expired", "the token has <b>expired</b>");
        assert!(page.contains("data-code=\"expired\"") && page.contains("&lt;b&gt;"));
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
        let v: serde_json::Value = serde_json::from_str(&success_json(&session())).unwrap();
        assert_eq!((v["ok"].as_bool(), v["account_type"].as_str()), (Some(true), Some("viewer")));
        let v: serde_json::Value = serde_json::from_str(&error_json("replayed", "m")).unwrap();
        assert_eq!(v["error"], "replayed");
    }
}
