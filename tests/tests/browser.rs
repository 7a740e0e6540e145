//! The browser pages in real headless Chromium (Debian's, driven by
//! playwright-core from `tests/browser/*.test.mjs`) against a real stack:
//! `embedgate serve` serving `www/` and the demo host, one edge on workerd.
//!
//! This test starts the stack, prepares what the scripts need (an admin and
//! a viewer token, the core's token vectors with the answers `embedgate
//! verify` gives them, an org of its own for the emergency key rotation),
//! runs `node --test 'tests/browser/*.test.mjs'`, checks at the edge what the
//! console's key rotation did (the old secrets and their sessions refused,
//! the downloaded new ones accepted), and stops the stack. Then it starts a
//! second stack whose edge keeps sessions for only [`SHORT_TTL_S`] seconds
//! and runs the suites that need short sessions ([`SHORT_SESSION_SUITES`]:
//! embeds that refresh in place) against it. Screenshots land in
//! `target/browser-artifacts/`.
//!
//! `EMBEDGATE_BROWSER_TESTS=refresh.test.mjs,demo.test.mjs` runs only those
//! files (a stack is started only if one of its suites is chosen).
#![allow(clippy::unwrap_used)]

#[path = "../../crates/core/tests/vectors/recipe.rs"]
mod recipe;

use std::process::{Command, Stdio};

use embedgate_e2e::{embedgate_bin, repo_root, step, Credential, Setup, Stack, ADMIN, ORG, OTHER_ORG};
use serde_json::{json, Value};

const TOKENS: &str = include_str!("../../crates/core/tests/vectors/tokens.json");
const SECRET_VAR: &str = "EMBEDGATE_VECTOR_SECRET";
const VIEWER: &str = "viewer@acme.test";
/// The end user of the embeds signed for the key rotation's checks.
const GUS: &str = "gus@globex.test";

/// Every vector the CLI can express, with the options the inspector takes
/// and the JSON line `embedgate verify` printed for it.
fn vectors_with_cli_answers() -> Vec<Value> {
    let file = recipe::load(TOKENS);
    let mut out = Vec::new();
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        let Ok(args) = b.verify_args(SECRET_VAR) else { continue };
        let run =
            Command::new(embedgate_bin()).args(&args).env(SECRET_VAR, &b.key).stdin(Stdio::null()).output().unwrap();
        let line = String::from_utf8(run.stdout).unwrap();
        let cli: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("{}: embedgate verify printed {line:?}: {e}", b.name));
        out.push(json!({"name": b.name, "token": b.token, "secret": b.key, "options": b.options_json(), "cli": cli}));
    }
    out
}

/// The suites run on the stack with short sessions, not on the main one.
const SHORT_SESSION_SUITES: [&str; 1] = ["refresh.test.mjs"];
/// `SESSION_TTL_S` of the short-session stack's edge: three refreshes take
/// about 15 s.
const SHORT_TTL_S: &str = "6";

/// The browser suites (`tests/browser/*.test.mjs` file names) to run on the
/// main stack (`short == false`) or the short-session one, as
/// `EMBEDGATE_BROWSER_TESTS` allows.
fn suites(short: bool) -> Vec<String> {
    let only = std::env::var("EMBEDGATE_BROWSER_TESTS").ok().filter(|v| !v.trim().is_empty());
    let chosen = |name: &str| only.as_deref().is_none_or(|list| list.split(',').any(|n| n.trim() == name));
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("tests/browser"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".test.mjs") && SHORT_SESSION_SUITES.contains(&name.as_str()) == short)
        .filter(|name| chosen(name))
        .collect();
    names.sort();
    names
}

/// `node --test` on `files` (under `tests/browser/`) with the stack's
/// environment and `more`; panics if a test fails.
fn run_node(stack: &Stack, files: &[String], more: &[(&str, &str)]) {
    let root = repo_root();
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    // Blocking is fine: the stack's servers are processes of their own.
    let mut node = Command::new(root.join("node_modules/.bin/node"));
    node.args(["--test", "--test-concurrency=1", "--test-timeout=300000", "--test-reporter=spec"])
        .args(files.iter().map(|f| format!("tests/browser/{f}")))
        .current_dir(&root)
        .env("EMBEDGATE_ADMIN_URL", &stack.admin.url)
        .env("EMBEDGATE_EDGE_URL", &stack.edges[0].url)
        .env("EMBEDGATE_ORG", ORG)
        .env("EMBEDGATE_ADMIN_EMAIL", ADMIN)
        .env("EMBEDGATE_ADMIN_TOKEN", &stack.token)
        .env("EMBEDGATE_ARTIFACTS", &artifacts)
        .env("EMBEDGATE_CHROMIUM", chromium())
        .stdin(Stdio::null());
    for (k, v) in more {
        node.env(k, v);
    }
    let status = node.status().unwrap();
    assert!(status.success(), "the browser tests failed ({status}); screenshots in {}", artifacts.display());
}

fn chromium() -> String {
    std::env::var("EMBEDGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_in_chromium_against_the_live_stack() {
    let root = repo_root();
    let node = root.join("node_modules/.bin/node");
    assert!(
        root.join("node_modules/playwright-core/package.json").exists() && node.exists(),
        "playwright-core or node is missing: run `cargo xtask setup`"
    );
    assert!(std::path::Path::new(&chromium()).exists(), "{} is missing: run `cargo xtask setup`", chromium());

    let main = suites(false);
    if !main.is_empty() {
        main_stack(&main).await;
    }
    let short = suites(true);
    if !short.is_empty() {
        step("a stack whose edge keeps sessions for a few seconds: embeds that refresh in place");
        let www = root.join("www").to_str().unwrap().to_owned();
        let setup = Setup {
            admin_env: &[("EMBEDGATE_WWW", &www), ("EMBEDGATE_DEMO", "true")],
            edge_vars: &[("SESSION_TTL_S", SHORT_TTL_S)],
            orgs: &[],
        };
        let stack = Stack::start_setup(1, &setup).await;
        run_node(&stack, &short, &[("EMBEDGATE_SESSION_TTL_S", SHORT_TTL_S)]);
        drop(stack);
    }
}

/// The main stack: every suite but the short-session ones, then the checks
/// of the console's key rotation at the edge.
async fn main_stack(files: &[String]) {
    let stack = Stack::start_with_pages(1).await;
    step("a viewer (non-admin) member with a token");
    let (status, body) = stack
        .api("POST", &format!("/api/v1/orgs/{ORG}/members"), Some(json!({"email": VIEWER, "account_type": "viewer"})))
        .await;
    assert_eq!(status, 201, "{body}");
    let body = stack.invited_token(ORG, VIEWER).await;
    let viewer_token = body["token"].as_str().unwrap().to_owned();

    step("the org whose keys the console rotates: live, rotated and revoked credentials, an open session");
    // OTHER_ORG: no other suite uses it, so their credentials keep their secrets.
    let portal = stack.create_credential_in(OTHER_ORG, "Globex portal").await;
    let intranet = stack.create_credential_in(OTHER_ORG, "Globex intranet").await;
    let rotate_path = format!("/api/v1/orgs/{OTHER_ORG}/credentials/{}/rotate", intranet.client_id);
    let (status, body) = stack.api_as(stack.token_of(OTHER_ORG), "POST", &rotate_path, None).await;
    assert_eq!(status, 200, "{body}");
    let intranet_second =
        Credential { client_id: intranet.client_id.clone(), secret: body["secret"].as_str().unwrap().to_owned() };
    let retired = stack.create_credential_in(OTHER_ORG, "Globex retired").await;
    let revoke_path = format!("/api/v1/orgs/{OTHER_ORG}/credentials/{}/revoke", retired.client_id);
    let (status, body) = stack.api_as(stack.token_of(OTHER_ORG), "POST", &revoke_path, None).await;
    assert_eq!(status, 200, "{body}");
    stack.wait_pushed().await;
    let opened = stack.edges[0].embed(OTHER_ORG, Some(&portal.sign(GUS)), None).await;
    assert_eq!(opened.status, 200, "{:?}", opened.body);
    let old_session = opened.session_cookie().unwrap();
    let downloaded = stack.dir().join("rotated-secrets.json");

    step("the token vectors and `embedgate verify`'s answers");
    let vectors = vectors_with_cli_answers();
    assert!(vectors.len() >= 40, "{} vectors", vectors.len());
    let vectors_file = stack.dir().join("vectors.json");
    std::fs::write(&vectors_file, serde_json::to_string(&vectors).unwrap()).unwrap();

    step("node --test tests/browser/ (playwright-core, headless Chromium)");
    let vectors_file = vectors_file.to_str().unwrap();
    let downloaded_file = downloaded.to_str().unwrap();
    run_node(
        &stack,
        files,
        &[
            ("EMBEDGATE_VIEWER_TOKEN", &viewer_token),
            ("EMBEDGATE_VECTORS", vectors_file),
            ("EMBEDGATE_ROTATE_ORG", OTHER_ORG),
            ("EMBEDGATE_ROTATE_TOKEN", stack.token_of(OTHER_ORG)),
            ("EMBEDGATE_ROTATE_DOWNLOAD", downloaded_file),
        ],
    );
    if !files.iter().any(|f| f == "rotate.test.mjs") {
        return;
    }

    step("the console's key rotation at the edge: old secrets and sessions refused, the downloaded ones accepted");
    let file: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&downloaded).unwrap()).unwrap();
    let mut ids: Vec<&str> = file.iter().map(|c| c["client_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut live = vec![portal.client_id.as_str(), intranet.client_id.as_str()];
    live.sort_unstable();
    assert_eq!(ids, live, "the download holds the live credentials, and only them");
    stack.wait_pushed().await;
    let edge = &stack.edges[0];
    for old in [&portal, &intranet, &intranet_second] {
        let got = edge.embed(OTHER_ORG, Some(&old.sign(GUS)), None).await;
        assert_eq!((got.status, got.error()), (401, "bad_signature"), "an old secret after the rotation");
    }
    let got = edge.embed(OTHER_ORG, None, Some(&old_session)).await;
    assert_eq!((got.status, got.error()), (401, "bad_signature"), "a session of an old secret ends");
    for row in &file {
        let new = Credential {
            client_id: row["client_id"].as_str().unwrap().to_owned(),
            secret: row["secret"].as_str().unwrap().to_owned(),
        };
        let got = edge.embed(OTHER_ORG, Some(&new.sign(GUS)), None).await;
        assert_eq!(got.status, 200, "a downloaded secret: {:?}", got.body);
    }
    // The revoked one's secret moved too: refused at the signature, before its revocation is looked at.
    let got = edge.embed(OTHER_ORG, Some(&retired.sign(GUS)), None).await;
    assert_eq!((got.status, got.error()), (401, "bad_signature"), "the revoked credential's old secret");
    drop(stack);
}
