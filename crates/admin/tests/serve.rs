//! The CLI flows over a real listening server: `embedgate init`, then
//! `embedgate serve` on an ephemeral port, plain HTTP/1.1 over a TcpStream.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_embedgate");

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn embedgate(data_dir: &std::path::Path, database_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("EMBEDGATE_DATA_DIR", data_dir)
        .env("EMBEDGATE_DATABASE_URL", database_url)
        .env_remove("EMBEDGATE_MASTER_KEY")
        .env_remove("EMBEDGATE_LISTEN");
    cmd
}

/// One request with `Connection: close`; returns status and JSON body.
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(t) = token {
        req = format!("{req}Authorization: Bearer {t}\r\n");
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

type Started = (Server, SocketAddr, Vec<String>, mpsc::Receiver<String>, std::thread::JoinHandle<()>);

/// Starts `embedgate serve` on an ephemeral port (RUST_LOG=trace, stderr
/// captured line by line) and waits for its logged address.
fn start(data: &std::path::Path, url: &str) -> Started {
    let child = embedgate(data, url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let stderr = server.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server logs its address");
        log.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    (server, addr, log, rx, reader)
}

#[test]
fn init_serve_create_and_no_secret_in_logs_or_files() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for backend in common::backends() {
        let dir = tempfile::TempDir::new().unwrap();
        let database = rt.block_on(common::TestDatabase::create(&backend, dir.path()));
        let (secrets, token) = cli_flow(dir.path(), &database.url);
        if database.is_postgres() {
            assert_no_leak(&rt.block_on(database.dump_text()), &secrets, &token);
        }
        rt.block_on(database.remove());
    }
}

fn assert_no_leak(texts: &[String], secrets: &[String], token: &str) {
    for text in texts {
        for s in secrets {
            assert!(!text.contains(s.as_str()));
        }
        assert!(embedgate_core::find_embed_secrets(text).is_empty());
        assert!(!text.contains(token), "the member token leaked");
    }
}

/// init, serve, create/rotate/list/revoke over HTTP, scan the logs and SQLite
/// files, kill -9, restart; returns the issued secrets and the admin token.
fn cli_flow(dir: &std::path::Path, url: &str) -> (Vec<String>, String) {
    let url = url.to_owned();
    let data = dir.join("data");

    // serve refuses to start without a master key.
    let out = embedgate(&data, &url).args(["serve", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no master key"));

    let out =
        embedgate(&data, &url).args(["init", "--org", "acme", "--admin-email", "Admin@Acme.test"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let init: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(init["org"], "acme");
    assert_eq!(init["admin_email"], "admin@acme.test");
    let token = init["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("egt_") && token.len() == 68);
    // The first admin's token expires (30 days by default; issue 14).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expires_at = init["expires_at"].as_u64().unwrap();
    assert!(expires_at.abs_diff(now + 30 * 86_400) < 60, "{init}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A second init of the same org refuses and changes nothing.
    let again =
        embedgate(&data, &url).args(["init", "--org", "acme", "--admin-email", "x@acme.test"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(again.stdout.is_empty());

    // serve refuses a master key that does not open the org keys, naming the one that does.
    let other = embedgate(&data, &url).args(["keygen", "master"]).output().unwrap();
    let other = String::from_utf8(other.stdout).unwrap();
    let out = embedgate(&data, &url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("EMBEDGATE_MASTER_KEY", other.trim())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrapped under master key") && stderr.contains("which is not configured"), "{stderr}");

    let (server, addr, mut log, rx, reader) = start(&data, &url);

    let (s, health) = http(addr, "GET", "/healthz", None, None);
    assert_eq!((s, health["ok"].as_bool()), (200, Some(true)));
    let (s, _) = http(addr, "GET", "/api/v1/orgs/acme/credentials", None, None);
    assert_eq!(s, 401);
    let body = json!({"name": "portal", "description": "d", "owner": "admin@acme.test", "privileges": ["embedding"]});
    let (s, created) = http(addr, "POST", "/api/v1/orgs/acme/credentials", Some(&token), Some(&body));
    assert_eq!(s, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let mut secrets = vec![created["secret"].as_str().unwrap().to_owned()];
    let (s, rotated) = http(addr, "POST", &format!("/api/v1/orgs/acme/credentials/{id}/rotate"), Some(&token), None);
    assert_eq!(s, 200);
    secrets.push(rotated["secret"].as_str().unwrap().to_owned());
    let (s, list) = http(addr, "GET", "/api/v1/orgs/acme/credentials", Some(&token), None);
    assert_eq!(s, 200);
    assert_eq!(list["credentials"][0]["client_id"], id.as_str());
    let (s, _) = http(addr, "POST", &format!("/api/v1/orgs/acme/credentials/{id}/revoke"), Some(&token), None);
    assert_eq!(s, 200);

    drop(server); // SIGKILL: what was answered 2xx must survive it
    reader.join().unwrap();
    log.extend(rx.try_iter());
    let log = log.join("\n");
    assert!(log.contains("/api/v1/orgs/acme/credentials"), "{log}");

    let mut texts = vec![log];
    for name in ["embedgate.db", "embedgate.db-wal", "embedgate.db-shm"] {
        if let Ok(bytes) = std::fs::read(data.join(name)) {
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    assert_no_leak(&texts, &secrets, &token);

    // After a restart (same data dir and master key) the credential is still there.
    // Its stderr reader is dropped at once: a closed stderr must not stop the server.
    let (server, addr, _, _, _) = start(&data, &url);
    let (s, got) = http(addr, "GET", &format!("/api/v1/orgs/acme/credentials/{id}"), Some(&token), None);
    assert_eq!(s, 200);
    assert_eq!(got["status"], "revoked");
    drop(server);

    // SIGTERM: graceful shutdown, exit 0.
    #[cfg(unix)]
    {
        let (mut server, addr, _log, _rx, _reader) = start(&data, &url);
        assert_eq!(http(addr, "GET", "/healthz", None, None).0, 200);
        let pid = server.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0));
    }
    (secrets, token)
}

/// One GET; status, content type and raw body.
fn get_raw(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type =
        head.lines().find_map(|l| l.strip_prefix("content-type: ")).map(str::to_owned).unwrap_or_default();
    (status, content_type, raw[split + 4..].to_vec())
}

/// The binary carries the console: started from a directory without a
/// `www/` folder, it serves the pages and the browser module.
#[test]
fn the_binary_serves_the_console_from_any_directory() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}/embedgate.db", data.display());
    let init = embedgate(&data, &url)
        .current_dir(dir.path())
        .args(["init", "--org", "acme", "--admin-email", "admin@acme.test"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let mut cmd = embedgate(&data, &url);
    cmd.current_dir(dir.path()).env_remove("EMBEDGATE_WWW");
    let child =
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut server = Server(child);
    let stderr = BufReader::new(server.0.stderr.take().unwrap());
    let addr: SocketAddr = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("listening on http://").nth(1).map(|r| r.split_whitespace().next().unwrap().parse().unwrap())
        })
        .expect("the server logs its address");
    assert!(!dir.path().join("www").exists());
    let (status, ct, body) = get_raw(addr, "/");
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&body).contains("Developer Access"), "not the console");
    for (path, want) in [
        ("/assets/console.js", "text/javascript; charset=utf-8"),
        ("/inspect", "text/html; charset=utf-8"),
        ("/pkg/embedgate_wasm.js", "text/javascript; charset=utf-8"),
    ] {
        let (status, ct, _) = get_raw(addr, path);
        assert_eq!((status, ct.as_str()), (200, want), "{path} (is www/pkg built? `cargo xtask www`)");
    }
    let (status, ct, wasm) = get_raw(addr, "/pkg/embedgate_wasm_bg.wasm");
    assert_eq!((status, ct.as_str()), (200, "application/wasm"), "the browser module (`cargo xtask www` builds it)");
    assert!(wasm.starts_with(b"\0asm"), "not a WASM module");
    drop(server);
}

/// Pushes carry the state and the wrapped secrets: `serve` refuses an edge
/// URL that is not `https://`, except `http://` on a loopback address.
#[test]
fn serve_refuses_plain_http_edges_off_loopback() {
    use embedgate_core::{EdgeKey, MasterKey, SyncKey};
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let url = embedgate_admin::store::default_sqlite_url(&data);
    let keys = [
        ("EMBEDGATE_MASTER_KEY", MasterKey::generate().unwrap().to_printable().to_string()),
        ("EMBEDGATE_SYNC_KEY", SyncKey::generate().unwrap().to_printable().to_string()),
        ("EMBEDGATE_EDGE_KEY", EdgeKey::generate().unwrap().to_printable().to_string()),
    ];
    for edge in ["http://edge.example.com", "http://10.0.0.7:8787", "ftp://edge.example.com", "https://"] {
        let out = embedgate(&data, &url)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(keys.iter().map(|(k, v)| (k, v)))
            .env("EMBEDGATE_EDGES", edge)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{edge}: {stderr}");
        assert!(stderr.contains("must be an https:// URL"), "{edge}: {stderr}");
    }
}

/// Issue 14: token lifetimes out of bounds, a default above the maximum,
/// and trusted proxies that are not addresses are refused at start.
#[test]
fn serve_refuses_bad_token_lifetimes_and_proxies() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let url = embedgate_admin::store::default_sqlite_url(&data);
    for (var, value, says) in [
        ("EMBEDGATE_TOKEN_DEFAULT_TTL", "100d", "must not exceed the maximum"),
        ("EMBEDGATE_TOKEN_MAX_TTL", "400d", "from 60 s to 365 days"),
        ("EMBEDGATE_TOKEN_DEFAULT_TTL", "10s", "from 60 s to 365 days"),
        ("EMBEDGATE_TRUSTED_PROXIES", "10.0.0.0/8,proxy.example", "not an IP address or CIDR block"),
    ] {
        let out = embedgate(&data, &url).args(["serve", "--listen", "127.0.0.1:0"]).env(var, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(says), "{var}={value}: {stderr}");
    }
}

/// An org whose admins hold no live token is not locked out: `embedgate
/// invite`, run with the database and its key, prints a one-time code the
/// member redeems for a token of their own; unknown orgs and members are
/// usage errors, and the invitation is audited.
#[test]
fn invite_is_the_recovery_path_when_no_admin_holds_a_token() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for backend in common::backends() {
        let dir = tempfile::TempDir::new().unwrap();
        let database = rt.block_on(common::TestDatabase::create(&backend, dir.path()));
        let (data, url) = (dir.path().join("data"), database.url.clone());
        let init = embedgate(&data, &url).args(["init", "--org", "acme", "--admin-email", "admin@acme.test"]).output();
        let init: Value = serde_json::from_slice(&init.unwrap().stdout).unwrap();
        let old = init["token"].as_str().unwrap().to_owned();

        for (args, why) in [
            (["invite", "--org", "globex", "--email", "admin@acme.test"], "not an active member of the org \"globex\""),
            (["invite", "--org", "acme", "--email", "nobody@acme.test"], "nobody@acme.test is not an active member"),
            (["invite", "--org", "acme", "--email", "not an email"], "--email"),
        ] {
            let out = embedgate(&data, &url).args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(why),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out =
            embedgate(&data, &url).args(["invite", "--org", "acme", "--email", "Admin@Acme.test"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let invite: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(invite["email"], "admin@acme.test");
        let code = invite["code"].as_str().unwrap().to_owned();
        assert!(code.starts_with("egi_"), "{invite}");

        let (server, addr, ..) = start(&data, &url);
        let (status, redeemed) = http(addr, "POST", "/api/v1/invitations/redeem", None, Some(&json!({"code": code})));
        assert_eq!(status, 201, "{redeemed}");
        let token = redeemed["token"].as_str().unwrap();
        assert_ne!(token, old);
        let (status, me) = http(addr, "GET", "/api/v1/me", Some(token), None);
        assert_eq!((status, me["email"].as_str()), (200, Some("admin@acme.test")), "{me}");
        let (status, again) = http(addr, "POST", "/api/v1/invitations/redeem", None, Some(&json!({"code": code})));
        assert_eq!((status, again["error"].as_str()), (401, Some("invitation_invalid")), "{again}");
        let (status, audit) = http(addr, "GET", "/api/v1/orgs/acme/audit", Some(token), None);
        assert_eq!(status, 200, "{audit}");
        let text = audit.to_string();
        assert!(text.contains("member.invite") && text.contains("embedgate-cli"), "{text}");
        drop(server);
        rt.block_on(database.remove());
    }
}
