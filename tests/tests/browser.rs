//! The browser pages in real headless Chromium (Debian's, driven by
//! playwright-core from `tests/browser/*.test.mjs`) against a real stack:
//! `embedgate serve` serving `www/` and the demo host, one edge on workerd.
//!
//! This test starts the stack, prepares what the scripts need (an admin and
//! a viewer token, the core's token vectors with the answers `embedgate
//! verify` gives them), runs `node --test 'tests/browser/*.test.mjs'`, and stops the
//! stack. Screenshots land in `target/browser-artifacts/`.
#![allow(clippy::unwrap_used)]

#[path = "../../crates/core/tests/vectors/recipe.rs"]
mod recipe;

use std::process::{Command, Stdio};

use embedgate_e2e::{embedgate_bin, repo_root, step, Stack, ADMIN, ORG};
use serde_json::{json, Value};

const TOKENS: &str = include_str!("../../crates/core/tests/vectors/tokens.json");
const SECRET_VAR: &str = "EMBEDGATE_VECTOR_SECRET";
const VIEWER: &str = "viewer@acme.test";

/// Every vector the CLI can express, with the options the inspector takes
/// and the JSON line `embedgate verify` printed for it.
fn vectors_with_cli_answers() -> Vec<Value> {
    let file = recipe::load(TOKENS);
    let mut out = Vec::new();
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        let Ok(args) = b.verify_args(SECRET_VAR) else { continue };
        let run =
            Command::new(embedgate_bin()).args(&args).env(SECRET_VAR, &b.secret).stdin(Stdio::null()).output().unwrap();
        let line = String::from_utf8(run.stdout).unwrap();
        let cli: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("{}: embedgate verify printed {line:?}: {e}", b.name));
        out.push(
            json!({"name": b.name, "token": b.token, "secret": b.secret, "options": b.options_json(), "cli": cli}),
        );
    }
    out
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

    let stack = Stack::start_with_pages(1).await;
    step("a viewer (non-admin) member with a token");
    let (status, body) = stack
        .api("POST", &format!("/api/v1/orgs/{ORG}/members"), Some(json!({"email": VIEWER, "account_type": "viewer"})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = stack.api("POST", &format!("/api/v1/orgs/{ORG}/members/{VIEWER}/tokens"), None).await;
    assert_eq!(status, 201, "{body}");
    let viewer_token = body["token"].as_str().unwrap().to_owned();

    step("the token vectors and `embedgate verify`'s answers");
    let vectors = vectors_with_cli_answers();
    assert!(vectors.len() >= 40, "{} vectors", vectors.len());
    let vectors_file = stack.dir().join("vectors.json");
    std::fs::write(&vectors_file, serde_json::to_string(&vectors).unwrap()).unwrap();
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    step("node --test tests/browser/ (playwright-core, headless Chromium)");
    // Blocking is fine: the stack's servers are processes of their own.
    let status = Command::new(&node)
        .args(["--test", "--test-concurrency=1", "--test-timeout=300000", "--test-reporter=spec"])
        // node expands the pattern itself (Node >= 21).
        .arg("tests/browser/*.test.mjs")
        .current_dir(&root)
        .env("EMBEDGATE_ADMIN_URL", &stack.admin.url)
        .env("EMBEDGATE_EDGE_URL", &stack.edges[0].url)
        .env("EMBEDGATE_ORG", ORG)
        .env("EMBEDGATE_ADMIN_EMAIL", ADMIN)
        .env("EMBEDGATE_ADMIN_TOKEN", &stack.token)
        .env("EMBEDGATE_VIEWER_TOKEN", &viewer_token)
        .env("EMBEDGATE_VECTORS", &vectors_file)
        .env("EMBEDGATE_ARTIFACTS", &artifacts)
        .env("EMBEDGATE_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the browser tests failed ({status}); screenshots in {}", artifacts.display());
    drop(stack);
}
