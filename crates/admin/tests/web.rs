//! The browser pages' server side: static files with a strict policy, and
//! the host-app demo's signing endpoints (off by default, per browser).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use embedgate_admin::server::web::{Pages, WebConfig};
use embedgate_admin::server::{self, demo::DemoHost};
use embedgate_core::{EmbedContext, EmbedSecret, KeyRing, Validation};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(app: &axum::Router, method: &str, path: &str, cookie: Option<&str>, body: Option<&Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
    Answer { status, headers, body }
}

fn www() -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    for (file, text) in [
        ("index.html", "<h1>console</h1>"),
        ("demo.html", "<h1>demo</h1>"),
        ("inspect.html", "<h1>inspect</h1>"),
        ("assets/app.js", "export {}"),
        ("pkg/m_bg.wasm", "\0asm"),
        ("assets/.hidden", "no"),
    ] {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[tokio::test]
async fn pages_and_assets_are_served_with_a_strict_policy() {
    let env = common::Env::new(&common::Backend::Sqlite).await;
    let dir = www();
    let mut state = env.state.clone();
    state.web = Arc::new(WebConfig::new(Pages::Folder(dir.path().to_owned()), &["http://127.0.0.1:8787".to_owned()]));
    let app = server::app(state);

    for (path, text, ct) in [
        ("/", "console", "text/html; charset=utf-8"),
        ("/demo", "demo", "text/html; charset=utf-8"),
        ("/inspect", "inspect", "text/html; charset=utf-8"),
        ("/assets/app.js", "export", "text/javascript; charset=utf-8"),
        ("/pkg/m_bg.wasm", "asm", "application/wasm"),
    ] {
        let a = send(&app, "GET", path, None, None).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(a.body.contains(text), "{path}");
        assert_eq!(a.headers["content-type"], ct, "{path}");
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("frame-src http://127.0.0.1:8787"), "{csp}");
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(a.headers["x-frame-options"], "DENY");
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
    }
    for path in ["/assets/.hidden", "/assets/../index.html", "/assets/%2e%2e/index.html", "/pkg/nope.js", "/elsewhere"]
    {
        let a = send(&app, "GET", path, None, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    // The API is unchanged next to the pages.
    assert_eq!(send(&app, "GET", "/healthz", None, None).await.status, StatusCode::OK);
    env.finish().await;
}

#[tokio::test]
async fn without_a_folder_the_built_in_pages_are_served() {
    let env = common::Env::new(&common::Backend::Sqlite).await;
    let a = send(&env.app, "GET", "/", None, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, include_str!("../../../www/index.html"), "the console's page, as built in");
    let a = send(&env.app, "GET", "/assets/console.js", None, None).await;
    assert_eq!(
        (a.status, a.headers["content-type"].to_str().unwrap()),
        (StatusCode::OK, "text/javascript; charset=utf-8")
    );
    assert!(a.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(send(&env.app, "GET", "/assets/nope.js", None, None).await.status, StatusCode::NOT_FOUND);
    env.finish().await;
}

#[tokio::test]
async fn the_demo_host_is_off_unless_enabled() {
    let env = common::Env::new(&common::Backend::Sqlite).await;
    for (method, path) in [("GET", "/demo/api/config"), ("POST", "/demo/api/embed-url")] {
        let a = send(&env.app, method, path, None, Some(&json!({"sub": "a@b.c"}))).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    env.finish().await;
}

#[tokio::test]
async fn the_demo_host_signs_urls_per_browser_and_never_answers_the_secret() {
    let env = common::Env::new(&common::Backend::Sqlite).await;
    let created = env.create_credential("Demo").await;
    let secret = created["secret"].as_str().unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    let mut state = env.state.clone();
    state.demo = Some(Arc::new(DemoHost::new(Some("http://127.0.0.1:8787/".to_owned()), None)));
    let app = server::app(state);

    let a = send(&app, "GET", "/demo/api/config", None, None).await;
    assert_eq!(
        a.json(),
        json!({"enabled": true, "configured": false, "org": null, "client_id": null, "edge_url": "http://127.0.0.1:8787/"})
    );
    let a = send(&app, "POST", "/demo/api/embed-url", None, Some(&json!({"sub": "ana@acme.test"}))).await;
    assert_eq!((a.status, a.json()["error"].clone()), (StatusCode::CONFLICT, json!("not_configured")));

    // Bad input is a 422 naming the field, never echoing the value.
    for (body, field) in [
        (json!({"org": "acme", "client_id": client_id}), "secret"),
        (json!({"org": "acme", "client_id": client_id, "secret": "egs_nope"}), "secret"),
        (json!({"org": "Not A Slug", "client_id": client_id, "secret": secret}), "org"),
        (json!({"org": "acme", "client_id": "xyz", "secret": secret}), "client_id"),
    ] {
        let a = send(&app, "PUT", "/demo/api/config", None, Some(&body)).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(a.json()["field"], field);
        assert!(!a.body.contains("egs_"), "{}", a.body);
    }

    let put = json!({"org": "acme", "client_id": client_id, "secret": secret});
    let a = send(&app, "PUT", "/demo/api/config", None, Some(&put)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains(secret));
    let cookie = a.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let a = send(&app, "GET", "/demo/api/config", Some(&cookie), None).await;
    assert_eq!(a.json()["configured"], true);
    assert_eq!(a.json()["client_id"], client_id);
    assert!(!a.body.contains(secret));
    // Another browser does not get this one's credential.
    let a = send(
        &app,
        "POST",
        "/demo/api/embed-url",
        Some("embedgate_demo=00000000000000000000000000000000"),
        Some(&json!({"sub": "x@y.z"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);

    let body = json!({"sub": "ana@acme.test", "id": "sales-overview", "account_type": "viewer", "ttl_s": 120});
    let a = send(&app, "POST", "/demo/api/embed-url", Some(&cookie), Some(&body)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let url = a.json()["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:8787/acme/workbook/sales-overview?:jwt="), "{url}");
    assert!(url.ends_with("&:embed=true") && !url.contains(secret));
    let token = embedgate_core::query_param(&url, ":jwt").unwrap().into_owned();

    // The token is one the edge accepts for this credential.
    let record = embedgate_core::CredentialRecord::new(
        client_id.parse().unwrap(),
        "acme".parse().unwrap(),
        embedgate_core::Owner { email: common::ADMIN.to_owned(), account_type: embedgate_core::AccountType::Admin },
    );
    let keys = KeyRing::from_secret(&EmbedSecret::new(secret.to_owned()), 1);
    let ctx = EmbedContext { org: Some("acme"), origin: None };
    let verified = Validation::default().verify(&token, server::now(), &ctx, |_| Some((&record, &keys))).unwrap();
    assert_eq!(verified.sub(), "ana@acme.test");
    assert_eq!(verified.exp() - verified.iat(), 120);

    for (body, field) in [
        (json!({}), "sub"),
        (json!({"sub": "not an email"}), "sub"),
        (json!({"sub": "a@b.c", "kind": "dashboard"}), "kind"),
        (json!({"sub": "a@b.c", "id": "../x"}), "id"),
        (json!({"sub": "a@b.c", "account_type": "root"}), "account_type"),
        (json!({"sub": "a@b.c", "ttl_s": 0}), "ttl_s"),
        (json!({"sub": "a@b.c", "ttl_s": "60"}), "ttl_s"),
    ] {
        let a = send(&app, "POST", "/demo/api/embed-url", Some(&cookie), Some(&body)).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(a.json()["field"], field, "{body}");
    }
    let a = send(&app, "POST", "/demo/api/embed-url", Some(&cookie), None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    env.finish().await;
}

#[tokio::test]
async fn the_demo_host_falls_back_to_the_credential_file() {
    let env = common::Env::new(&common::Backend::Sqlite).await;
    let created = env.create_credential("From file").await;
    let file = env.dir.path().join("dev-demo-credential.json");
    let mut state = env.state.clone();
    state.demo = Some(Arc::new(DemoHost::new(Some("http://127.0.0.1:8787".to_owned()), Some(file.clone()))));
    let app = server::app(state);
    // Read when needed: the file may appear after the server started.
    assert_eq!(send(&app, "GET", "/demo/api/config", None, None).await.json()["configured"], false);
    std::fs::write(&file, created.to_string()).unwrap();
    let a = send(&app, "GET", "/demo/api/config", None, None).await;
    assert_eq!(a.json()["client_id"], created["client_id"]);
    let a = send(&app, "POST", "/demo/api/embed-url", None, Some(&json!({"sub": "ana@acme.test"}))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    env.finish().await;
}
