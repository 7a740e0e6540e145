//! Embed verification end to end on two edges: credentials created on the
//! admin, tokens signed by PyJWT, every change pushed to both edges, and the
//! sync endpoint refusing forged and older pushes.
//!
//! One stack (one admin, two edges) serves every scenario, in order: each
//! wrangler start costs ~15 s.
#![allow(clippy::unwrap_used)]

use embedgate_core::sync::{open_ack, seal_request, SyncBody, SyncRequest, SIGNATURE_HEADER};
use embedgate_core::{OrgChanges, SyncKey};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use embedgate_e2e::{step, Answer, Credential, Edge, Stack, ADMIN, ORG, OTHER_ORG, PUSH_DEADLINE};
use serde_json::{json, Value};

const ALICE: &str = "alice@customer.test";
const BOB: &str = "bob@customer.test";
const CAROL: &str = "carol@acme.test";

fn assert_ok(a: &Answer, edge: &Edge, sub: &str, client_id: &str) {
    assert_eq!(a.status, 200, "{}: {:?}", edge.name, a.body);
    assert_eq!(a.body["ok"], true, "{}: {:?}", edge.name, a.body);
    assert_eq!(a.body["sub"], sub, "{}", edge.name);
    assert_eq!(a.body["client_id"], client_id, "{}", edge.name);
    assert_eq!(a.body["org"], ORG, "{}", edge.name);
}

fn assert_refused(a: &Answer, edge: &Edge, status: u16, code: &str) {
    assert_eq!((a.status, a.error()), (status, code), "{}: {:?}", edge.name, a.body);
    assert!(a.body["message"].is_string(), "{}: {:?}", edge.name, a.body);
    assert!(a.session_cookie().is_none_or(|c| c.ends_with('=')), "{}: a refusal opened a session", edge.name);
}

/// A fresh token of `cred` for `sub` on every edge answers 200 as `sub`.
async fn assert_verifies_everywhere(stack: &Stack, cred: &Credential, sub: &str) {
    for edge in &stack.edges {
        let a = edge.embed(ORG, Some(&cred.sign(sub)), None).await;
        assert_ok(&a, edge, sub, &cred.client_id);
    }
}

/// A fresh token of `cred` for `sub` on every edge is refused with `status`/`code`.
async fn assert_refused_everywhere(stack: &Stack, cred: &Credential, sub: &str, status: u16, code: &str) {
    for edge in &stack.edges {
        let a = edge.embed(ORG, Some(&cred.sign(sub)), None).await;
        assert_refused(&a, edge, status, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeds_verify_and_every_change_reaches_both_edges() {
    let stack = Stack::start(2).await;
    let initial = stack.wait_in_sync(Duration::from_secs(5)).await;

    let portal = stack.create_credential("Customer portal", ADMIN).await;
    let v = stack.wait_pushed().await;
    assert!(v > initial, "creating a credential did not bump the version ({initial} → {v})");
    let cookies = first_load_replay_and_session(&stack, &portal).await;
    last_use_reaches_the_admin(&stack, &portal).await;
    other_orgs_url(&stack, &portal, &cookies).await;
    refresh_in_place(&stack, &portal, &cookies).await;
    let carols = creator_cannot_impersonate(&stack).await;
    // The sessions opened so far were opened with the first secret: retiring it ends them.
    let portal = rotation(&stack, portal, &cookies).await;
    revocation(&stack, &portal, &[]).await;
    // Revoking one credential leaves the others alone.
    assert_verifies_everywhere(&stack, &carols, CAROL).await;
    let version = edges_report_in_sync(&stack).await;
    sync_refuses_forged_and_older_pushes(&stack, version, &carols, &portal).await;
    assert_eq!(stack.wait_in_sync(PUSH_DEADLINE).await, version);
    step("done");
}

/// The edges report credential use on their acks; the admin shows it as `last_used_at`.
async fn last_use_reaches_the_admin(stack: &Stack, portal: &Credential) {
    step("the embed loads show up as the credential's last_used_at at the admin");
    let t0 = std::time::Instant::now();
    loop {
        let (status, body) =
            stack.api("GET", &format!("/api/v1/orgs/{ORG}/credentials/{}", portal.client_id), None).await;
        assert_eq!(status, 200, "{body}");
        if let Some(at) = body["last_used_at"].as_i64() {
            let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
            assert!((now - 120..=now + 5).contains(&at), "last_used_at {at} is not recent (now {now})");
            return;
        }
        // Usage travels on the next ack: a push or the periodic probe (every RECONCILE).
        assert!(t0.elapsed() < Duration::from_secs(15), "last_used_at still null: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns each edge's session cookie.
async fn first_load_replay_and_session(stack: &Stack, portal: &Credential) -> Vec<String> {
    step("PyJWT token: 200 with the identity and a session on both edges; a replay is 401 replayed but for a reload");
    let mut cookies = Vec::new();
    for edge in &stack.edges {
        // One token per edge: locally each edge has its own replay store.
        let token = portal.sign(ALICE);
        let first = edge.embed(ORG, Some(&token), None).await;
        assert_ok(&first, edge, ALICE, &portal.client_id);
        assert_eq!(first.body["account_type"], Value::Null, "{:?}", first.body);
        let set = first.set_cookies.iter().find(|c| c.starts_with("embedgate_session=")).unwrap();
        assert!(set.contains(&format!("Path=/{ORG}/")), "{set}");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"), "{set}");
        cookies.push(first.session_cookie().unwrap());

        let again = edge.embed(ORG, Some(&token), None).await;
        assert_refused(&again, edge, 401, "replayed");

        // A reload of the same URL carries on on the user's own session (no new
        // one); with another user's session it is still a replay.
        let cookie = cookies.last().unwrap();
        let reload = edge.embed(ORG, Some(&token), Some(cookie)).await;
        assert_ok(&reload, edge, ALICE, &portal.client_id);
        assert!(reload.session_cookie().is_none(), "{}: {:?}", edge.name, reload.set_cookies);
        let bobs = edge.embed(ORG, Some(&portal.sign(BOB)), None).await;
        assert_ok(&bobs, edge, BOB, &portal.client_id);
        let bobs_cookie = bobs.session_cookie().unwrap();
        let stolen = edge.embed(ORG, Some(&token), Some(&bobs_cookie)).await;
        assert_refused(&stolen, edge, 401, "replayed");
    }

    step("the session cookie continues without :jwt");
    for (edge, cookie) in stack.edges.iter().zip(&cookies) {
        let cont = edge.embed(ORG, None, Some(cookie)).await;
        assert_ok(&cont, edge, ALICE, &portal.client_id);
    }
    cookies
}

async fn other_orgs_url(stack: &Stack, portal: &Credential, cookies: &[String]) {
    step("a token (or a session) of org acme on org globex's URL: 403 org_mismatch");
    for (edge, cookie) in stack.edges.iter().zip(cookies) {
        let a = edge.embed(OTHER_ORG, Some(&portal.sign(ALICE)), None).await;
        assert_refused(&a, edge, 403, "org_mismatch");
        // A browser would not send the cookie there (Path=/acme/); a client that does is refused.
        let a = edge.embed(OTHER_ORG, None, Some(cookie)).await;
        assert_refused(&a, edge, 403, "org_mismatch");
    }
}

/// A refresh (`:refresh=1`) extends the user's own session with a new token,
/// verified with every rule, replay included; it never switches users.
async fn refresh_in_place(stack: &Stack, portal: &Credential, cookies: &[String]) {
    step("refresh: a new token of the session's user extends it; another user's is refused unspent; replay refused");
    for (edge, cookie) in stack.edges.iter().zip(cookies) {
        let before = edge.embed(ORG, None, Some(cookie)).await;
        assert_ok(&before, edge, ALICE, &portal.client_id);
        let exp = before.body["exp"].as_i64().unwrap();

        let alone = edge.refresh(ORG, &portal.sign(ALICE), None).await;
        assert_refused(&alone, edge, 401, "malformed_token");

        let bobs = portal.sign(BOB);
        let switched = edge.refresh(ORG, &bobs, Some(cookie)).await;
        assert_refused(&switched, edge, 403, "impersonation_not_allowed");
        // The refused refresh spent nothing: Bob's token still opens Bob's own embed.
        assert_ok(&edge.embed(ORG, Some(&bobs), None).await, edge, BOB, &portal.client_id);

        let token = portal.sign(ALICE);
        let refreshed = edge.refresh(ORG, &token, Some(cookie)).await;
        assert_ok(&refreshed, edge, ALICE, &portal.client_id);
        assert!(refreshed.body["exp"].as_i64().unwrap() >= exp, "{}: {:?}", edge.name, refreshed.body);
        let new_cookie = refreshed.session_cookie().unwrap();
        assert_ne!(&new_cookie, cookie, "{}", edge.name);
        assert_ok(&edge.embed(ORG, None, Some(&new_cookie)).await, edge, ALICE, &portal.client_id);

        // Replay included: a spent token refreshes nothing, not even its own user's session.
        let again = edge.refresh(ORG, &token, Some(&new_cookie)).await;
        assert_refused(&again, edge, 401, "replayed");
    }
}

async fn creator_cannot_impersonate(stack: &Stack) -> Credential {
    step("a creator's credential: as itself 200, for someone else 403 impersonation_not_allowed");
    stack.post("/members", json!({"email": CAROL, "account_type": "creator"}), 201).await;
    let carols = stack.create_credential("Carol's sandbox", CAROL).await;
    stack.wait_pushed().await;
    assert_verifies_everywhere(stack, &carols, CAROL).await;
    assert_refused_everywhere(stack, &carols, ALICE, 403, "impersonation_not_allowed").await;
    carols
}

/// Returns the credential with its new secret. `cookies` are sessions (one
/// per edge) opened with the first secret.
async fn rotation(stack: &Stack, portal: Credential, cookies: &[String]) -> Credential {
    step("rotate: the old and the new secret both verify");
    let rotated = stack.post(&format!("/credentials/{}/rotate", portal.client_id), json!({}), 200).await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, portal.secret);
    let portal_new = Credential { client_id: portal.client_id.clone(), secret: new_secret };
    stack.wait_pushed().await;
    assert_verifies_everywhere(stack, &portal, ALICE).await;
    assert_verifies_everywhere(stack, &portal_new, ALICE).await;
    for (edge, cookie) in stack.edges.iter().zip(cookies) {
        let a = edge.embed(ORG, None, Some(cookie)).await;
        assert_eq!(
            a.status, 200,
            "{}: a session of the previous secret ends only when it is retired: {:?}",
            edge.name, a.body
        );
    }

    step("retire-previous: the old secret is refused with 401 bad_signature (its sessions too), the new one verifies");
    stack.post(&format!("/credentials/{}/retire-previous", portal.client_id), json!({}), 200).await;
    stack.wait_pushed().await;
    assert_refused_everywhere(stack, &portal, ALICE, 401, "bad_signature").await;
    assert_verifies_everywhere(stack, &portal_new, ALICE).await;
    for (edge, cookie) in stack.edges.iter().zip(cookies) {
        let a = edge.embed(ORG, None, Some(cookie)).await;
        assert_refused(&a, edge, 401, "bad_signature");
    }
    portal_new
}

/// SHA-256 in base64, computed by Python (independently of the edge's Rust).
fn sha256_base64(text: &str) -> String {
    let script =
        "import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())";
    let mut child = std::process::Command::new(embedgate_e2e::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A first load as a browser makes it (HTML): a 303 to the URL without
/// `:jwt` with the session cookie, then the demo page with its heartbeat
/// script, allowed by hash (and nothing else) in its CSP. Returns the
/// session cookie it opened.
async fn load_demo_page(edge: &Edge, token: &str) -> String {
    let url = format!("{}/{ORG}/workbook/wb-1?:jwt={token}", edge.url);
    let resp = embedgate_e2e::http().get(url).header("accept", "text/html").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303, "{}", edge.name);
    assert_eq!(resp.headers()["location"], format!("/{ORG}/workbook/wb-1").as_str(), "{}", edge.name);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("embedgate_session="), "{}: {cookie}", edge.name);
    let url = format!("{}/{ORG}/workbook/wb-1", edge.url);
    let resp =
        embedgate_e2e::http().get(url).header("accept", "text/html").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{}", edge.name);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let page = resp.text().await.unwrap();
    // The one executable script (the data block has a type): posts the load, then polls the session.
    let scripts: Vec<&str> =
        page.split("<script>").skip(1).map(|rest| rest.split_once("</script>").unwrap().0).collect();
    assert_eq!(scripts.len(), 1, "{}: {page}", edge.name);
    for needle in [
        "embedgate:loaded",
        "embedgate:error",
        "location.pathname",
        "\"application/json\"",
        "setTimeout",
        "embedgate:expiring",
        "embedgate:refresh\"",
        "&:refresh=1",
    ] {
        assert!(scripts[0].contains(needle), "{}: no {needle} in {}", edge.name, scripts[0]);
    }
    assert!(page.contains("\"heartbeat\":true"), "{}: {page}", edge.name);
    // What a refresh needs: the session's end and who may send one (nobody may frame this credential).
    assert!(page.contains("\"exp\":") && page.contains("\"origins\":[]"), "{}: {page}", edge.name);
    let hash = sha256_base64(scripts[0]);
    assert_eq!(
        csp,
        format!(
            "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; \
             connect-src 'self'; img-src data:"
        ),
        "{}",
        edge.name
    );
    cookie
}

async fn revocation(stack: &Stack, portal: &Credential, older_cookies: &[String]) {
    step("the demo page (HTML) carries its heartbeat script, allowed by hash in its CSP; the heartbeat answers 200");
    let mut sessions = Vec::new();
    for edge in &stack.edges {
        let cookie = load_demo_page(edge, &portal.sign(ALICE)).await;
        // The heartbeat: JSON, no :jwt, the session cookie; it mints no new cookie.
        for _ in 0..2 {
            let beat = edge.embed(ORG, None, Some(&cookie)).await;
            assert_ok(&beat, edge, ALICE, &portal.client_id);
            assert!(beat.set_cookies.is_empty(), "{}: {:?}", edge.name, beat.set_cookies);
        }
        sessions.push(cookie);
    }

    step("revoke: new tokens get 401 credential_revoked and live sessions (the heartbeat) end");
    stack.post(&format!("/credentials/{}/revoke", portal.client_id), json!({}), 200).await;
    stack.wait_pushed().await;
    assert_refused_everywhere(stack, portal, ALICE, 401, "credential_revoked").await;
    let cookies = stack.edges.iter().zip(&sessions).chain(stack.edges.iter().zip(older_cookies));
    for (edge, cookie) in cookies {
        let a = edge.embed(ORG, None, Some(cookie)).await;
        assert_refused(&a, edge, 401, "credential_revoked");
        let cleared = a.set_cookies.iter().find(|c| c.starts_with("embedgate_session=;")).unwrap();
        assert!(cleared.contains("Max-Age=0") && cleared.contains(&format!("Path=/{ORG}/")), "{cleared}");
    }
}

async fn edges_report_in_sync(stack: &Stack) -> u64 {
    step("GET /api/v1/edges: both edges in_sync at the admin's version");
    let version = stack.wait_in_sync(PUSH_DEADLINE).await;
    let status = stack.edges_status().await;
    let edges = status["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2, "{status}");
    for (listed, edge) in edges.iter().zip(&stack.edges) {
        assert_eq!(listed["url"], edge.url.as_str(), "{status}");
        assert_eq!(listed["state"], "in_sync", "{status}");
        assert_eq!(listed["applied_version"], version, "{status}");
        assert_eq!(listed["consecutive_failures"], 0, "{status}");
    }
    version
}

async fn sync_refuses_forged_and_older_pushes(stack: &Stack, version: u64, carols: &Credential, revoked: &Credential) {
    step("the sync endpoint refuses forged and older pushes; the state is unchanged");
    let key = SyncKey::from_printable(&stack.sync_key).unwrap();
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
    // The edges hold the admin's lineage: messages of it are judged by version.
    let lineage = stack.edges[0].healthz().await["regions"][0]["lineage"].as_str().unwrap().to_owned();
    // A one-page full state at `version` in which the org has no credential.
    let full = |version: u64| {
        let empty = OrgChanges { complete: true, ..OrgChanges::new(ORG.parse().unwrap()) };
        let body = SyncBody::Full {
            id: format!("f{version}"),
            to: version,
            seq: 0,
            last: true,
            replace: false,
            orgs: vec![empty],
        };
        SyncRequest::new(&lineage, version, body, std::collections::BTreeMap::new(), now).unwrap()
    };
    for edge in &stack.edges {
        let before = edge.healthz().await;
        assert_eq!(before["version"], version);

        // A newer, empty state (it would wipe every credential) under another key.
        let forged = full(version + 100);
        let sealed = seal_request(&forged, &SyncKey::generate().unwrap());
        let a = edge.sync_raw(sealed.body.clone(), Some(&sealed.signature)).await;
        assert_eq!((a.status, a.error()), (401, "unknown_sync_key"), "{}: {:?}", edge.name, a.body);
        // The same tag naming no key: every configured key is tried, none matches.
        let unnamed = sealed.signature.split_once(',').unwrap().1;
        let a = edge.sync_raw(sealed.body.clone(), Some(unnamed)).await;
        assert_eq!((a.status, a.error()), (401, "bad_signature"), "{}: {:?}", edge.name, a.body);
        // The same without a signature, and a real signature over other bytes.
        let a = edge.sync_raw(sealed.body.clone(), None).await;
        assert_eq!((a.status, a.error()), (401, "bad_signature"), "{}: {:?}", edge.name, a.body);
        let real = seal_request(&forged, &key);
        let mut tampered = real.body.clone();
        tampered.extend_from_slice(b" ");
        let a = edge.sync_raw(tampered, Some(&real.signature)).await;
        assert_eq!((a.status, a.error()), (401, "bad_signature"), "{}: {:?}", edge.name, a.body);
        // Garbage.
        let a = edge.sync_raw(b"not json at all".to_vec(), Some("v1=zz")).await;
        assert_eq!((a.status, a.error()), (401, "bad_signature"), "{}: {:?}", edge.name, a.body);

        // An authentic but older state: 409 stale, the edge keeps its version.
        let older = full(version - 1);
        let sealed = seal_request(&older, &key);
        let a = edge.sync_raw(sealed.body.clone(), Some(&sealed.signature)).await;
        assert_eq!(a.status, 409, "{}: {:?}", edge.name, a.body);
        assert_eq!(a.body["outcome"], "stale", "{}: {:?}", edge.name, a.body);
        assert_eq!(a.body["applied_version"], version, "{}: {:?}", edge.name, a.body);

        // The same version with other contents is not applied either (and the
        // ack is authentic and answers this request).
        let same = full(version);
        let sealed = seal_request(&same, &key);
        let resp = embedgate_e2e::http()
            .post(format!("{}{}", edge.url, embedgate_core::sync::SYNC_PATH))
            .header(SIGNATURE_HEADER, &sealed.signature)
            .body(sealed.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", edge.name);
        let signature = resp.headers()[SIGNATURE_HEADER].to_str().unwrap().to_owned();
        let body = resp.bytes().await.unwrap();
        let ack = open_ack(&body, Some(&signature), &key, &same.nonce).unwrap();
        assert_eq!(ack.applied_version, version, "{}", edge.name);
        assert_eq!(serde_json::to_value(ack.outcome).unwrap(), "current", "{}", edge.name);

        let after = edge.healthz().await;
        assert_eq!(after["version"], before["version"], "{}", edge.name);
        assert_eq!(after["issued_at"], before["issued_at"], "{}", edge.name);
        let a = edge.embed(ORG, Some(&carols.sign(CAROL)), None).await;
        assert_ok(&a, edge, CAROL, &carols.client_id);
        let a = edge.embed(ORG, Some(&revoked.sign(ALICE)), None).await;
        assert_refused(&a, edge, 401, "credential_revoked");
    }
}
