//! The key hierarchy end to end, on real `embedgate serve` and real edges
//! (workerd): every rotation a runbook in docs/architecture.md §9 describes,
//! done under a load of fresh embeds, counting every answer.
//!
//! - `embedgate rekey` while the admin serves with both master keys, then
//!   the admin on the new key alone, then the retired key refused: no embed
//!   refused at any point (the edge never sees a master key; org keys, and
//!   so secrets, are unchanged).
//! - The edge key: an admin switched to a key the edge does not hold is
//!   refused (`unknown_edge_key`, shown as `failing`) while the edge keeps
//!   serving; given both keys the edge takes a full state wrapped under the
//!   new one; then the old key is dropped. Sessions sealed under a key live
//!   as long as the edge holds it.
//! - The sync key: the same dance, with changes made at every step; every
//!   change reaches the edge (none is lost while a key is refused).
//! - An edge configured with a master key refuses to serve.
//! - The per-org emergency rotation: old secrets and their sessions dead at
//!   the edge within the revocation bound, new ones live, other orgs untouched.
//!
//! An edge restarted locally is unreachable for a moment (on Cloudflare a
//! secret change rolls out without one): loads that find it down are
//! counted apart from refused ones, and only refusals fail a test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedgate_e2e::{embedgate, embedgate_bin, http, pyjwt_sign_batch, step, Credential, Stack, ADMIN, ORG, OTHER_ORG};
use serde_json::{json, Value};

const ALICE: &str = "alice@customer.test";

/// What a load saw.
#[derive(Debug, Default)]
struct Tally {
    /// Embeds answered 200.
    ok: usize,
    /// Embeds refused (any other answer): each one fails the test.
    refused: Vec<String>,
    /// Attempts that found the edge down (a local restart).
    unreachable: usize,
    /// The load ran out of tokens before it was stopped.
    exhausted: bool,
}

/// Fresh embeds from four concurrent clients, each pausing 20 ms between
/// loads, round-robin over the edges, each with its own single-use token,
/// until stopped (and at least [`MIN_LOADS`] answered).
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
}

/// A load answers at least this many embeds before it is stopped.
const MIN_LOADS: usize = 200;
const CLIENTS: usize = 4;

impl Load {
    fn start(edges: &[String], tokens: Vec<(String, String)>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let mut shares: Vec<Vec<(String, String)>> = vec![Vec::new(); CLIENTS];
        for (i, t) in tokens.into_iter().enumerate() {
            shares[i % CLIENTS].push(t);
        }
        let tasks = shares
            .into_iter()
            .enumerate()
            .map(|(client, share)| {
                tokio::spawn(Self::client(client, edges.to_vec(), share, stop.clone(), answered.clone()))
            })
            .collect();
        Self { stop, answered, tasks }
    }

    async fn client(
        client: usize,
        edges: Vec<String>,
        tokens: Vec<(String, String)>,
        flag: Arc<AtomicBool>,
        answered: Arc<AtomicUsize>,
    ) -> Tally {
        {
            let mut tally = Tally::default();
            let mut tokens = tokens.into_iter();
            let mut i = client;
            while !flag.load(Ordering::Relaxed) {
                let Some((org, token)) = tokens.next() else {
                    tally.exhausted = true;
                    break;
                };
                let edge = &edges[i % edges.len()];
                i += 1;
                let url = format!("{edge}/{org}/workbook/wb-1?:jwt={token}");
                match http().get(url).header("accept", "application/json").send().await {
                    Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => tally.unreachable += 1,
                    Err(e) => tally.refused.push(format!("{edge}: {e}")),
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.text().await.unwrap_or_default();
                        if status == 200 {
                            tally.ok += 1;
                            answered.fetch_add(1, Ordering::Relaxed);
                        } else {
                            tally.refused.push(format!("{edge} {org}: {status} {body}"));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tally
        }
    }

    /// Lets the load reach [`MIN_LOADS`] (within a minute), stops it, and
    /// checks that no embed was refused.
    async fn finish(self) -> Tally {
        let t0 = Instant::now();
        while self.answered.load(Ordering::Relaxed) < MIN_LOADS && t0.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for task in self.tasks {
            let t = task.await.unwrap();
            tally.ok += t.ok;
            tally.refused.extend(t.refused);
            tally.unreachable += t.unreachable;
            tally.exhausted |= t.exhausted;
        }
        eprintln!(
            "load: {} embeds verified, {} refused, {} attempts found an edge restarting{}",
            tally.ok,
            tally.refused.len(),
            tally.unreachable,
            if tally.exhausted { " (ran out of tokens)" } else { "" }
        );
        assert!(!tally.exhausted, "the load ran out of tokens before the rotation was over");
        assert!(tally.refused.is_empty(), "{} embeds refused:\n{}", tally.refused.len(), tally.refused.join("\n"));
        assert!(tally.ok >= MIN_LOADS, "too few embeds to mean anything: {tally:?}");
        tally
    }
}

/// `count` tokens of each credential, interleaved, with the org each is for.
fn tokens(creds: &[(&str, &Credential, &str)], count: usize) -> Vec<(String, String)> {
    let specs: Vec<(&Credential, &str, usize)> = creds.iter().map(|(_, c, sub)| (*c, *sub, count)).collect();
    let batches = pyjwt_sign_batch(&specs);
    let mut out = Vec::with_capacity(count * creds.len());
    for i in 0..count {
        for ((org, _, _), batch) in creds.iter().zip(&batches) {
            out.push(((*org).to_owned(), batch[i].clone()));
        }
    }
    out
}

/// A key and its id (`embedgate keygen KIND --json`).
fn keygen(kind: &str) -> (String, String) {
    let v: Value = serde_json::from_str(&embedgate(&["keygen", kind, "--json"], &[])).unwrap();
    (v["key"].as_str().unwrap().to_owned(), v["id"].as_str().unwrap().to_owned())
}

/// The admin's board entry of the stack's first edge.
async fn board(stack: &Stack) -> Value {
    stack.edges_status().await["edges"][0].clone()
}

/// Polls the board until `pred` holds for the first edge (within `within`).
async fn wait_board(stack: &Stack, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let edge = board(stack).await;
        if pred(&edge) {
            return edge;
        }
        assert!(t0.elapsed() < within, "{what} not seen within {within:?}: {edge}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_under_load_refuses_no_embed_and_the_retired_key_is_refused() {
    let mut stack = Stack::start(1).await;
    let acme = stack.create_credential("Portal", ADMIN).await;
    let globex = stack.create_credential_in(OTHER_ORG, "Globex portal").await;
    stack.wait_pushed().await;
    let health = stack.edges[0].healthz().await;
    assert_eq!(health["edge_keys"].as_array().unwrap().len(), 1, "{health}");
    let load = Load::start(
        &[stack.edges[0].url.clone()],
        tokens(&[(ORG, &acme, ALICE), (OTHER_ORG, &globex, "gus@globex.test")], 1500),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    step("the admin restarts with the new master key first and the old one beside it");
    let old = stack.master_key();
    let (new, new_id) = keygen("master");
    stack.admin.set_env("EMBEDGATE_MASTER_KEY", &format!("{new},{old}"));
    stack.admin.restart().await;

    step("embedgate rekey re-wraps every org key while the admin serves");
    let data = stack.admin.data_dir();
    let out = std::process::Command::new(embedgate_bin())
        .args(["rekey", "--new-key-env", "NEW_MASTER_KEY", "--data-dir"])
        .arg(&data)
        .env_remove("EMBEDGATE_DATABASE_URL")
        .env("EMBEDGATE_MASTER_KEY", format!("{new},{old}"))
        .env("NEW_MASTER_KEY", &new)
        .output()
        .unwrap();
    assert!(out.status.success(), "rekey: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["master_key"].as_str(), report["rewrapped"].as_u64()), (Some(new_id.as_str()), Some(2)));
    // Writes go on and reach the edge: a new credential, and a rotation of an existing one.
    let fresh = stack.create_credential("After rekey", ADMIN).await;
    stack.post(&format!("/credentials/{}/rotate", acme.client_id), json!({}), 200).await;
    stack.wait_pushed().await;
    let a = stack.edges[0].embed(ORG, Some(&fresh.sign(ALICE)), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);

    step("the admin restarts with the new master key alone");
    stack.admin.set_env("EMBEDGATE_MASTER_KEY", &new);
    stack.admin.restart().await;
    let later = stack.create_credential("On the new key", ADMIN).await;
    stack.wait_pushed().await;
    let a = stack.edges[0].embed(ORG, Some(&later.sign(ALICE)), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);

    step("the retired key is refused, with a message that names what to do");
    let out = std::process::Command::new(embedgate_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("EMBEDGATE_DATABASE_URL")
        .env("EMBEDGATE_MASTER_KEY", &old)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retired by `embedgate rekey`") && stderr.contains(&new_id), "{stderr}");
    assert!(!stderr.contains(&old) && !stderr.contains(&new));

    let tally = load.finish().await;
    assert_eq!(tally.unreachable, 0, "the edge was never restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_key_rotates_with_two_live_ids_and_no_embed_is_refused() {
    let mut stack = Stack::start(1).await;
    let acme = stack.create_credential("Portal", ADMIN).await;
    stack.wait_pushed().await;
    let k1 = stack.edge_key.clone();
    let k1_id = stack.edges[0].healthz().await["edge_keys"][0].as_str().unwrap().to_owned();
    let (k2, k2_id) = keygen("edge");
    let first = stack.edges[0].embed(ORG, Some(&acme.sign(ALICE)), None).await;
    let session = first.session_cookie().unwrap();
    let load = Load::start(&[stack.edges[0].url.clone()], tokens(&[(ORG, &acme, ALICE)], 3000));

    step("the admin moves to a key the edge does not hold: refused, shown failing, the edge keeps serving");
    stack.admin.set_env("EMBEDGATE_EDGE_KEY", &k2);
    stack.admin.restart().await;
    let failing = wait_board(&stack, "the edge refusing the new edge key", Duration::from_secs(30), |e| {
        e["state"] == "failing" && e["last_error"].as_str().is_some_and(|m| m.contains(&k2_id))
    })
    .await;
    eprintln!("board while the edge lacks the key: {failing}");
    let revoked_meanwhile = stack.create_credential("Made while refused", ADMIN).await;
    stack.post(&format!("/credentials/{}/revoke", revoked_meanwhile.client_id), json!({}), 200).await;

    step("the edge holds both keys: it takes a full state wrapped under the new one");
    stack.edges[0].set_var("EMBEDGATE_EDGE_KEY", &format!("{k1},{k2}"));
    stack.edges[0].restart().await;
    assert_eq!(stack.edges[0].healthz().await["edge_keys"], json!([k1_id, k2_id]));
    stack.wait_in_sync(Duration::from_secs(60)).await;
    let status = stack.edges_status().await;
    assert_eq!(status["edge_key"], k2_id.as_str(), "{status}");
    let regions = status["edges"][0]["regions"].as_array().unwrap();
    assert!(!regions.is_empty() && regions.iter().all(|r| r["edge_key"] == k2_id.as_str()), "{status}");
    let a = stack.edges[0].embed(ORG, Some(&revoked_meanwhile.sign(ALICE)), None).await;
    assert_eq!((a.status, a.error()), (401, "credential_revoked"), "the change made while refused arrived");
    let a = stack.edges[0].embed(ORG, None, Some(&session)).await;
    assert_eq!(a.status, 200, "a session sealed under the old key goes on while the edge holds it: {:?}", a.body);

    step("the new key first (it seals new sessions), then the old key dropped");
    stack.edges[0].set_var("EMBEDGATE_EDGE_KEY", &format!("{k2},{k1}"));
    stack.edges[0].restart().await;
    let fresh = stack.edges[0].embed(ORG, Some(&acme.sign(ALICE)), None).await;
    let new_session = fresh.session_cookie().unwrap();
    stack.edges[0].set_var("EMBEDGATE_EDGE_KEY", &k2);
    stack.edges[0].restart().await;
    assert_eq!(stack.edges[0].healthz().await["edge_keys"], json!([k2_id]));
    stack.wait_in_sync(Duration::from_secs(30)).await;
    let a = stack.edges[0].embed(ORG, None, Some(&new_session)).await;
    assert_eq!(a.status, 200, "a session sealed under the new key: {:?}", a.body);
    let a = stack.edges[0].embed(ORG, None, Some(&session)).await;
    assert_eq!((a.status, a.error()), (401, "bad_signature"), "a session sealed under the dropped key ends");

    load.finish().await;
}

/// A credential created and revoked at step `i` of a rotation.
async fn revoke_one(stack: &Stack, i: usize) -> Credential {
    let c = stack.create_credential(&format!("Revoked at step {i}"), ADMIN).await;
    stack.post(&format!("/credentials/{}/revoke", c.client_id), json!({}), 200).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_key_rotates_and_every_change_reaches_the_edge() {
    let mut stack = Stack::start(1).await;
    let s1 = stack.sync_key.clone();
    let s1_id = stack.edges[0].healthz().await["sync_keys"][0].as_str().unwrap().to_owned();
    let (s2, s2_id) = keygen("sync");
    // One credential revoked at each step; all must be revoked at the edge at the end.
    let mut revoked = Vec::new();
    let mut live = Vec::new();
    for i in 0..5 {
        live.push(stack.create_credential(&format!("Stays {i}"), ADMIN).await);
    }
    stack.wait_pushed().await;
    let load = Load::start(&[stack.edges[0].url.clone()], tokens(&[(ORG, &live[0], ALICE)], 3000));

    step("the admin seals with the new key before the edge has it: refused (unknown_sync_key), nothing lost");
    stack.admin.set_env("EMBEDGATE_SYNC_KEY", &format!("{s2},{s1}"));
    stack.admin.restart().await;
    revoked.push(revoke_one(&stack, 0).await);
    wait_board(&stack, "the edge refusing the new sync key", Duration::from_secs(30), |e| {
        e["last_error"].as_str().is_some_and(|m| m.contains("unknown_sync_key") || m.contains(&s2_id))
    })
    .await;
    revoked.push(revoke_one(&stack, 1).await);

    step("the edge accepts both keys: the admin's pushes go through, the missed changes arrive");
    stack.edges[0].set_var("EMBEDGATE_SYNC_KEY", &format!("{s1},{s2}"));
    stack.edges[0].restart().await;
    assert_eq!(stack.edges[0].healthz().await["sync_keys"], json!([s1_id, s2_id]));
    stack.wait_in_sync(Duration::from_secs(30)).await;
    revoked.push(revoke_one(&stack, 2).await);
    stack.wait_pushed().await;

    step("the edge drops the old key; then the admin too");
    stack.edges[0].set_var("EMBEDGATE_SYNC_KEY", &s2);
    stack.edges[0].restart().await;
    revoked.push(revoke_one(&stack, 3).await);
    stack.admin.set_env("EMBEDGATE_SYNC_KEY", &s2);
    stack.admin.restart().await;
    revoked.push(revoke_one(&stack, 4).await);
    stack.wait_in_sync(Duration::from_secs(30)).await;
    assert_eq!(stack.edges[0].healthz().await["sync_keys"], json!([s2_id]));

    step("every change made during the rotation is at the edge");
    for c in &revoked {
        let a = stack.edges[0].embed(ORG, Some(&c.sign(ALICE)), None).await;
        assert_eq!((a.status, a.error()), (401, "credential_revoked"), "{}", c.client_id);
    }
    for c in &live {
        let a = stack.edges[0].embed(ORG, Some(&c.sign(ALICE)), None).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let edge = board(&stack).await;
    assert!(edge["last_error"].is_null(), "{edge}");
    load.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_refuses_to_serve_with_a_master_key() {
    let stack = Stack::start(1).await;
    let master = stack.master_key();
    let mut edge = stack.extra_edge("edge-with-master", &[("EMBEDGATE_MASTER_KEY", &master)]);
    edge.spawn();
    let t0 = Instant::now();
    let (status, body) = loop {
        let asked = http().get(format!("{}/healthz", edge.url)).header("accept", "application/json");
        if let Ok(resp) = asked.send().await {
            let status = resp.status().as_u16();
            break (status, resp.json::<Value>().await.unwrap_or_default());
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "the edge never answered");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!((status, body["error"].as_str()), (503, Some("edge_unconfigured")), "{body}");
    // It says why in its log, without the key.
    let t0 = Instant::now();
    while !edge.log().contains("EMBEDGATE_MASTER_KEY must not be set on an edge") {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", edge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!edge.log().contains(&master));
    // The stack's own edge holds no master key: only the edge and sync keys.
    let health = stack.edges[0].healthz().await;
    assert_eq!(health["edge_keys"].as_array().unwrap().len(), 1, "{health}");
    assert!(!health.to_string().contains(&master[..12]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_rotation_kills_the_orgs_old_secrets_and_sessions_at_the_edge() {
    let stack = Stack::start(1).await;
    let a = stack.create_credential("Portal", ADMIN).await;
    let b = stack.create_credential("Intranet", ADMIN).await;
    let g = stack.create_credential_in(OTHER_ORG, "Globex portal").await;
    stack.wait_pushed().await;
    let edge = &stack.edges[0];
    let opened = edge.embed(ORG, Some(&a.sign(ALICE)), None).await;
    let session = opened.session_cookie().unwrap();
    let globex_session = edge.embed(OTHER_ORG, Some(&g.sign("gus@globex.test")), None).await.session_cookie().unwrap();
    let old_tokens = tokens(&[(ORG, &a, ALICE), (ORG, &b, ALICE)], 20);

    step("the org's admin rotates its key material");
    let t0 = Instant::now();
    let rotated = stack.post("/keys/rotate", json!({"confirm": ORG}), 200).await;
    let answered = t0.elapsed();
    let new_of = |id: &str| {
        let c = rotated["credentials"].as_array().unwrap().iter().find(|c| c["client_id"] == id).unwrap();
        Credential { client_id: id.to_owned(), secret: c["secret"].as_str().unwrap().to_owned() }
    };
    let (a_new, b_new) = (new_of(&a.client_id), new_of(&b.client_id));

    // The old secrets die at the edge within the revocation bound.
    let mut old = old_tokens.into_iter();
    loop {
        let (org, token) = old.next().expect("the old secret still verified after 20 loads");
        let got = edge.embed(&org, Some(&token), None).await;
        if got.status == 401 && got.error() == "bad_signature" {
            break;
        }
        assert_eq!(got.status, 200, "{:?}", got.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = t0.elapsed();
    eprintln!(
        "emergency rotation: answered in {answered:?}; the old secret refused at the edge {dead:?} after the call"
    );
    stack.wait_pushed().await;
    for (org, token) in old {
        let got = edge.embed(&org, Some(&token), None).await;
        assert_eq!((got.status, got.error()), (401, "bad_signature"), "an old secret after the rotation");
    }
    let got = edge.embed(ORG, None, Some(&session)).await;
    assert_eq!((got.status, got.error()), (401, "bad_signature"), "a session of an old secret ends");
    for c in [&a_new, &b_new] {
        let got = edge.embed(ORG, Some(&c.sign(ALICE)), None).await;
        assert_eq!(got.status, 200, "a new secret: {:?}", got.body);
    }
    // Another org: untouched.
    let got = edge.embed(OTHER_ORG, Some(&g.sign("gus@globex.test")), None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let got = edge.embed(OTHER_ORG, None, Some(&globex_session)).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
}

/// Every file under `dir` whose path (relative to the stack) starts with `prefix`, as text.
fn texts_under(stack: &Stack, prefix: &str) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&stack.dir().join(prefix), &mut files);
    files.iter().filter_map(|p| std::fs::read(p).ok()).map(|b| String::from_utf8_lossy(&b).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deployment_can_have_its_own_edge_key() {
    let mut stack = Stack::start(2).await;
    let cred = stack.create_credential("Portal", ADMIN).await;
    stack.wait_pushed().await;
    let ((key_a, a_id), (key_b, b_id)) = (keygen("edge"), keygen("edge"));

    step(
        "each edge gets its own key (beside the shared one while the admin catches up), the admin names them per edge",
    );
    let shared = stack.edge_key.clone();
    for (edge, own) in stack.edges.iter_mut().zip([&key_a, &key_b]) {
        edge.set_var("EMBEDGATE_EDGE_KEY", &format!("{own},{shared}"));
        edge.restart().await;
    }
    let list = format!("{}#EDGE_KEY_A,{}#EDGE_KEY_B", stack.edges[0].url, stack.edges[1].url);
    stack.admin.set_env("EDGE_KEY_A", &key_a);
    stack.admin.set_env("EDGE_KEY_B", &key_b);
    stack.admin.set_env("EMBEDGATE_EDGES", &list);
    stack.admin.restart().await;
    stack.wait_in_sync(Duration::from_secs(60)).await;
    let status = stack.edges_status().await;
    for (i, id) in [&a_id, &b_id].into_iter().enumerate() {
        let edge = &status["edges"][i];
        assert_eq!(edge["edge_key"], id.as_str(), "{status}");
        assert!(edge["regions"].as_array().unwrap().iter().all(|r| r["edge_key"] == id.as_str()), "{status}");
    }
    assert!(!status.to_string().contains(&key_a) && !status.to_string().contains(&key_b), "a key in the answer");

    step("the shared key is dropped: each edge holds only its own, and verifies");
    for (edge, own) in stack.edges.iter_mut().zip([&key_a, &key_b]) {
        edge.set_var("EMBEDGATE_EDGE_KEY", own);
        edge.restart().await;
    }
    stack.wait_in_sync(Duration::from_secs(30)).await;
    for (edge, id) in stack.edges.iter().zip([&a_id, &b_id]) {
        assert_eq!(edge.healthz().await["edge_keys"], json!([id]));
        let a = edge.embed(ORG, Some(&cred.sign(ALICE)), None).await;
        assert_eq!(a.status, 200, "{}: {:?}", edge.name, a.body);
    }
    let fresh = stack.create_credential("After", ADMIN).await;
    stack.wait_pushed().await;
    for edge in &stack.edges {
        let a = edge.embed(ORG, Some(&fresh.sign(ALICE)), None).await;
        assert_eq!(a.status, 200, "{}: {:?}", edge.name, a.body);
    }

    step("one deployment's storage holds nothing wrapped under another's key");
    for edge in &mut stack.edges {
        edge.stop().await;
    }
    for (name, own, other) in [("edge-a-state", &a_id, &b_id), ("edge-b-state", &b_id, &a_id)] {
        let texts = texts_under(&stack, name);
        let count = |id: &str| texts.iter().map(|t| t.matches(&format!("{id}.")).count()).sum::<usize>();
        let (mine, theirs) = (count(own), count(other));
        eprintln!("{name}: {mine} values wrapped under its own key, {theirs} under the other deployment's");
        assert!(mine > 0, "{name}: nothing wrapped under its own key");
        assert_eq!(theirs, 0, "{name}: values wrapped under the other deployment's key");
    }
}
