//! `cargo xtask dev`: the whole local stack on loopback.
//!
//! Setup, release builds of the admin binary, the edge worker and the
//! browser module (`www/pkg`), then:
//! - the admin (`embedgate serve`, SQLite under `./data/`) on 127.0.0.1:8080,
//!   pushing to the edge, serving the console (`/`), the host-app demo
//!   (`/demo`, signing with the demo credential) and the inspector (`/inspect`);
//! - the edge (`wrangler dev`, workerd, state under `./data/edge-state/`) on
//!   127.0.0.1:8787;
//! - a demo org `demo` with an admin, whose API token is printed, and a demo
//!   credential, whose secret is kept in `./data/dev-demo-credential.json`
//!   (mode 0600, git-ignored) so every run can print a freshly signed embed URL.
//!
//! Both servers use the keys in `.dev.vars`; their output goes to
//! `./data/logs/`. Ctrl-C stops both: each server runs in a process group of
//! its own (so the terminal's SIGINT reaches only xtask, which dies of it),
//! and the harness's watchdog in each group then stops it as `Proc::stop`
//! would: the polite signal, then SIGKILL to the group, workerd included.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use embedgate_harness::{dev_var, http, Admin, AdminSpec, Edge, EdgeSpec};

use crate::setup;
use crate::util::{self, cargo, repo_root, Result};
use crate::www;

const ADMIN_PORT: u16 = 8080;
const EDGE_PORT: u16 = 8787;
const INSPECTOR_PORT: u16 = 9239;
const ORG: &str = "demo";
const ADMIN_EMAIL: &str = "admin@demo.test";

pub fn run() -> Result<()> {
    setup::run()?;
    util::run(&mut cargo(["build", "--release", "-p", "embedgate-admin"]))?;
    embedgate_harness::build_edge()?;
    www::build()?;
    let binary = util::target_dir().join("release/embedgate");
    let data = repo_root().join("data");
    std::fs::create_dir_all(&data)?;

    // The admin's master key is data/master.key (made by `init`); the edge and sync keys are shared with the edge.
    let (edge_key, sync) = (dev_var("EMBEDGATE_EDGE_KEY")?, dev_var("EMBEDGATE_SYNC_KEY")?);
    let token = admin_token(&binary, &data)?;
    let logs = data.join("logs");

    // The edge reads the keys from .dev.vars itself; its state in data/edge-state.
    let mut spec = EdgeSpec::new("edge", EDGE_PORT, INSPECTOR_PORT, &data)
        // Plain HTTP on loopback: the session cookie cannot be `Secure` here.
        .var("SESSION_COOKIE_SECURE", "false");
    spec.server.log_dir.clone_from(&logs);
    let edge_url = format!("http://127.0.0.1:{EDGE_PORT}");
    println!("starting the edge (workerd) on {edge_url} …");
    let mut edge = Edge::start_new(spec)?;

    println!("starting the admin on http://127.0.0.1:{ADMIN_PORT} …");
    let www_dir = repo_root().join("www");
    let demo_file = data.join("dev-demo-credential.json");
    let mut spec = AdminSpec::new(&binary, ADMIN_PORT, &data)
        .env("EMBEDGATE_EDGE_KEY", &edge_key)
        .env("EMBEDGATE_SYNC_KEY", &sync)
        .env("EMBEDGATE_EDGES", &edge_url)
        .env("EMBEDGATE_OPERATOR_ORGS", ORG)
        .env("EMBEDGATE_WWW", &www_dir.to_string_lossy())
        // The host-app demo signs with the demo credential (loopback only).
        .env("EMBEDGATE_DEMO", "true")
        .env("EMBEDGATE_DEMO_CREDENTIAL", &demo_file.to_string_lossy());
    spec.server.log_dir = logs;
    let mut admin = Admin::start_new(spec)?;

    let (client_id, secret) = demo_credential(&admin, &token, &data)?;
    wait_in_sync(&admin, &token)?;
    let url = signed_url(&binary, &client_id, &secret, &edge_url)?;

    println!();
    println!("embedgate is up (Ctrl-C stops it):");
    println!("  console     http://127.0.0.1:{ADMIN_PORT}/          (sign in with org {ORG} and the admin token)");
    println!("  demo app    http://127.0.0.1:{ADMIN_PORT}/demo      (embeds through the edge)");
    println!("  inspector   http://127.0.0.1:{ADMIN_PORT}/inspect   (tokens checked in the browser)");
    println!("  admin API   http://127.0.0.1:{ADMIN_PORT}/api/v1   (OpenAPI: /api/v1/openapi.json, /metrics)");
    println!("  edge        {edge_url}   (/healthz)");
    println!("  org         {ORG}, admin {ADMIN_EMAIL}");
    println!("  admin token {token}");
    println!("  demo client {client_id}  (its secret: data/dev-demo-credential.json)");
    println!();
    println!("A signed embed URL (single use, valid 15 minutes; open it in a browser):");
    println!("  {url}");
    println!();
    println!("Try the API:");
    println!(
        "  curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{ADMIN_PORT}/api/v1/orgs/{ORG}/credentials"
    );
    println!("  curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{ADMIN_PORT}/api/v1/edges");
    println!("Logs: data/logs/ (serve-1.log, wrangler-1.log). Run `cargo xtask dev` again for a fresh URL.");

    loop {
        std::thread::sleep(Duration::from_millis(500));
        if admin.exited() || edge.exited() {
            admin.stop()?;
            edge.stop()?;
            return Err("a server of the stack exited; see data/logs/".into());
        }
    }
}

/// The demo admin's API token: created with the org on the first run and
/// kept in `data/dev-admin.json` (0600).
fn admin_token(binary: &Path, data: &Path) -> Result<String> {
    let file = data.join("dev-admin.json");
    if !file.exists() {
        // Member tokens expire (30 days by default): the demo's lives a year.
        let out = util::read_stdout(
            Command::new(binary)
                .args(["init", "--org", ORG, "--admin-email", ADMIN_EMAIL, "--token-default-ttl", "365d"])
                .args(["--token-max-ttl", "365d", "--data-dir"])
                .arg(data),
        )
        .map_err(|e| format!("{e}. If ./data holds an older demo without data/dev-admin.json, remove ./data"))?;
        write_private(&file, &out)?;
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if v["expires_at"].as_u64().is_some_and(|at| at <= now) {
        return Err(
            format!("the demo admin token in {} has expired: remove ./data for a fresh demo", file.display()).into()
        );
    }
    v["token"].as_str().map(str::to_owned).ok_or_else(|| format!("{} has no token", file.display()).into())
}

/// The demo credential (created on the first run; its secret kept in
/// `data/dev-demo-credential.json`, 0600, for signing demo URLs).
fn demo_credential(admin: &Admin, token: &str, data: &Path) -> Result<(String, String)> {
    let file = data.join("dev-demo-credential.json");
    if !file.exists() {
        let name = format!("Demo host app {}", std::process::id());
        let body = serde_json::json!({
            "name": name,
            "description": "created by cargo xtask dev",
            "owner": ADMIN_EMAIL,
            "privileges": ["embedding"],
            "allowed_origins": demo_host_origins(),
        })
        .to_string();
        let auth = format!("Bearer {token}");
        let (status, answer) = http(
            admin.addr(),
            "POST",
            &format!("/api/v1/orgs/{ORG}/credentials"),
            &[("authorization", &auth), ("content-type", "application/json")],
            &body,
        )?;
        if status != 201 {
            return Err(format!("creating the demo credential: HTTP {status}").into());
        }
        write_private(&file, &answer)?;
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    let (Some(client_id), Some(secret)) = (v["client_id"].as_str(), v["secret"].as_str()) else {
        return Err(format!("{} lacks client_id or secret", file.display()).into());
    };
    // Framing is denied unless allowed: the demo host page frames the embeds.
    // (Set on every start, for a demo credential made before that rule.)
    let body = serde_json::json!({ "allowed_origins": demo_host_origins() }).to_string();
    let auth = format!("Bearer {token}");
    let (status, _) = http(
        admin.addr(),
        "PATCH",
        &format!("/api/v1/orgs/{ORG}/credentials/{client_id}"),
        &[("authorization", &auth), ("content-type", "application/json")],
        &body,
    )?;
    if status != 200 {
        return Err(format!("allowing the demo host to frame the demo credential's embeds: HTTP {status}").into());
    }
    Ok((client_id.to_owned(), secret.to_owned()))
}

/// The origins the demo host page (`/demo` on the admin) is opened from.
fn demo_host_origins() -> [String; 2] {
    [format!("http://127.0.0.1:{ADMIN_PORT}"), format!("http://localhost:{ADMIN_PORT}")]
}

/// Waits until the admin says the edge has applied its current state.
fn wait_in_sync(admin: &Admin, token: &str) -> Result<()> {
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http(admin.addr(), "GET", "/api/v1/edges", &[("authorization", &auth)], "")?;
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        if v["edges"].as_array().is_some_and(|e| e.iter().all(|e| e["state"] == "in_sync")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the edge did not get in sync within 30 s: {body}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signed_url(binary: &Path, client_id: &str, secret: &str, edge_url: &str) -> Result<String> {
    let out = util::read_stdout(
        Command::new(binary)
            .args(["sign", "--client-id", client_id, "--secret-env", "EMBEDGATE_DEMO_SECRET"])
            .args(["--sub", "viewer@demo.test", "--ttl", "15m", "--claim", "account_type=viewer"])
            .args(["--claim", "teams:=[\"sales\"]", "--url"])
            .arg(format!("{edge_url}/{ORG}/workbook/quarterly-sales"))
            .env("EMBEDGATE_DEMO_SECRET", secret),
    )?;
    Ok(out.trim().to_owned())
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())?;
    Ok(())
}
