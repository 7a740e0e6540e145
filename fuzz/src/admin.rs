//! `admin_bodies`: the admin API's JSON bodies, through the real router
//! (`embedgate_admin::server::app`) over a SQLite database in a temporary
//! directory, one `oneshot` request per input. The body parsers
//! (`parse_new_credential`, `parse_credential_patch`, …) are private, so the
//! public surface is fuzzed: authentication passes (an admin token of the
//! org), then the body decides. Any 500, or an answer echoing the token,
//! is a failure.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use embedgate_admin::server::{self, AppState};
use embedgate_core::MasterKey;
use tower::ServiceExt;

use crate::MASTER_KEY;

/// A member the PATCH endpoint can change without touching the last admin.
pub const MEMBER: &str = "member@acme.test";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: Router,
    token: String,
    client_id: String,
    _dir: TempDir,
}

/// A directory removed on drop (on tmpfs when there is one: every write fsyncs).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the databases of earlier runs whose process is gone (a static
/// fixture is never dropped, so each run leaves its directory behind).
fn sweep_stale(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("embedgate-fuzz-")) else { continue };
        if pid.bytes().all(|b| b.is_ascii_digit()) && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The endpoints that take a JSON body: (method, path under the org).
pub fn endpoints(client_id: &str) -> Vec<(Method, String)> {
    vec![
        (Method::POST, "/credentials".to_owned()),
        (Method::PATCH, format!("/credentials/{client_id}")),
        (Method::POST, "/members".to_owned()),
        (Method::PATCH, format!("/members/{MEMBER}")),
    ]
}

/// How many endpoints the selector byte chooses from.
pub const ENDPOINTS: u8 = 4;

async fn request(app: &Router, method: Method, uri: &str, token: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a request");
    let response = app.clone().oneshot(req).await.expect("the router is infallible");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20).await.expect("a body");
    (status, bytes.to_vec())
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let base = ["/dev/shm", "/tmp"].iter().map(std::path::Path::new).find(|p| p.is_dir()).expect("a temp dir");
        sweep_stale(base);
        let dir = base.join(format!("embedgate-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let (app, token, client_id) = runtime.block_on(async {
            let db = embedgate_admin::store::open(&embedgate_admin::store::default_sqlite_url(&dir))
                .await
                .expect("a database");
            let master = MasterKey::from_printable(MASTER_KEY).expect("fixture master key");
            let keys =
                std::sync::Arc::new(embedgate_admin::store::keys::Keys::new(embedgate_core::KeySet::single(master)));
            embedgate_admin::store::keys::prepare(&db, &keys).await.expect("master key");
            let token = server::init_org(&db, &keys, crate::ORG, "admin@acme.test")
                .await
                .expect("init")
                .expect("a new org")
                .to_string();
            let app = server::app(AppState::new(db, keys));
            let base = format!("/api/v1/orgs/{}", crate::ORG);
            let member = format!(r#"{{"email":"{MEMBER}","account_type":"creator"}}"#);
            let (status, _) =
                request(&app, Method::POST, &format!("{base}/members"), &token, member.into_bytes()).await;
            assert_eq!(status, 201, "creating the fixture member");
            let credential = format!(r#"{{"name":"fixture","owner":"{MEMBER}","privileges":["embedding"]}}"#);
            let (status, body) =
                request(&app, Method::POST, &format!("{base}/credentials"), &token, credential.into_bytes()).await;
            assert_eq!(status, 201, "creating the fixture credential: {}", String::from_utf8_lossy(&body));
            let created: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            let client_id = created["client_id"].as_str().expect("a client_id").to_owned();
            (app, token, client_id)
        });
        Fixture { runtime, app, token, client_id, _dir: TempDir(dir) }
    })
}

/// The fixture credential's client ID (for seeds).
pub fn fixture_client_id() -> &'static str {
    &fixture().client_id
}

/// `admin_bodies`: `selector ‖ body`.
pub fn admin_bodies(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    let f = fixture();
    let (method, path) = endpoints(&f.client_id).swap_remove(usize::from(selector % ENDPOINTS));
    let uri = format!("/api/v1/orgs/{}{path}", crate::ORG);
    let (status, answer) = f.runtime.block_on(request(&f.app, method.clone(), &uri, &f.token, body.to_vec()));
    let text = String::from_utf8_lossy(&answer);
    assert!(status != 500 && status < 600, "{method} {uri} answered {status}: {text}");
    assert!(!text.contains(&f.token), "{method} {uri} echoed the admin token");
    if status >= 400 {
        let error: serde_json::Value =
            serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("non-JSON error: {text}"));
        assert!(error["error"].is_string(), "an error without a code: {text}");
    }
}
