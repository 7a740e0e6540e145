//! Secrets never leak: the whole stack (one admin, two edges on workerd) is
//! used as a host app and an admin would use it, then every file it left
//! behind and every answer it gave is searched for every secret it issued.
//!
//! The scenario: a member and credentials owned by the admin and by a
//! creator; embeds at both edges (JSON and HTML first loads, session
//! heartbeats, a wrong secret, a replay, another org's URL); rotation, both
//! live secrets, retire-previous, revocation; every read of the admin API
//! (credentials, members, audit, edges, metrics, health, OpenAPI); the sync
//! endpoint with a forged push; `embedgate sign` and `embedgate verify` with
//! the secret in the environment. Every secret shown by a create or rotate
//! answer is collected (and a wrong secret the host app never sent).
//!
//! After the processes stop, every file under the stack's directory is read
//! (the admin's SQLite database with its WAL and shared memory, its serve
//! logs, the edges' `--persist-to` state — Durable Object SQLite files and KV
//! blobs — and wrangler's output and debug logs), as is every HTTP answer
//! (status, headers, body) and CLI output, except the create/rotate answers
//! themselves, the one place a secret may appear. Each is searched for:
//! - each embed secret: its text (UTF-8 and UTF-16LE), hex (both cases),
//!   base64 and base64url at every alignment; and the 32 key bytes it
//!   renders (the HMAC output of the org key, see `OrgKey::derive_embed_secret`),
//!   raw, hex and base64;
//! - the master key, the edge key and the sync key, in the same forms;
//! - any string at all that [`find_embed_secrets`] recognises as an embed
//!   secret, and any `egm_`/`ege_`/`egk_` string that parses as such a key.
//!
//! What is acceptable: nothing. The master key is the admin's alone (its
//! environment); no edge is given it. The edge and sync keys reach the
//! edges as `--var` flags here (production uses Worker secrets), so they are
//! in wrangler's process arguments, but they must not be written to any file
//! under the stack (state or logs), nor appear in any answer; the admin must
//! not write any key to its database or its logs.
//!
//! The key hierarchy (issue 13), on the dumps: the database plus every
//! edge's state, without the keys, hold no secret in any form (above); the
//! edges' state holds the live secrets only wrapped under the edge key
//! (values named by its id are there), and nothing wrapped under the master
//! key (its id appears in no edge file): an edge's dump plus the edge key
//! opens what that edge verifies today, never an org key.
//!
//! Constant-time comparison is argued, not measured: every MAC check goes
//! through `hmac::Mac::verify_slice` (`Hs256Key::verify` in
//! crates/core/src/jws.rs, which `KeyRing::verify` in credential.rs and the
//! edge session in edge.rs use; `check` in sync.rs for pushes), which
//! compares in constant time (`subtle`). The admin's member tokens are
//! looked up by their SHA-256 in SQL, so timing reveals at most a hash
//! prefix, not the token. [`no_tag_is_compared_with_eq`] scans the sources
//! so a later `==` on a tag does not slip in.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use embedgate_core::keys::NamedKey as _;
use embedgate_core::{find_embed_secrets, looks_like_embed_secret, EdgeKey, EmbedSecret, MasterKey, SyncKey};
use embedgate_e2e::{embedgate_bin, http, pyjwt_sign, repo_root, step, Edge, Stack, ADMIN, ORG, OTHER_ORG};
use serde_json::{json, Value};

const CAROL: &str = "carol@acme.test";
const ALICE: &str = "alice@customer.test";

// ------------------------------------------------------------------ recording

/// What an answer carries by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Issues {
    Nothing,
    /// A create or rotate answer: `secret`.
    EmbedSecret,
    /// A member token.
    MemberToken,
}

/// Every answer the scenario received, and the secrets it was shown.
#[derive(Default)]
struct Record {
    /// (label, status + headers + body) of every answer but create/rotate.
    answers: Vec<(String, String)>,
    /// The create/rotate answers (they carry a secret by design) and the
    /// member-token answers (they carry a member token by design).
    issuing: usize,
    /// (label, secret) of every secret issued.
    secrets: Vec<(String, String)>,
}

impl Record {
    async fn send(&mut self, label: &str, req: reqwest::RequestBuilder, issues: Issues) -> (u16, Value, Vec<String>) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let mut text = format!("{status}\n");
        for (name, value) in resp.headers() {
            let _ = writeln!(text, "{name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
        let cookies = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        let body = resp.text().await.unwrap();
        text.push_str(&body);
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        // A refused create/rotate carries nothing: searched like any answer.
        let issues = if (200..300).contains(&status) { issues } else { Issues::Nothing };
        if issues == Issues::MemberToken {
            self.issuing += 1;
        } else if issues == Issues::EmbedSecret {
            self.issuing += 1;
            let secret = json["secret"].as_str().unwrap_or_else(|| panic!("{label}: no secret in {json}"));
            assert!(looks_like_embed_secret(secret), "{label}: {secret:?} is not in the egs_ form");
            self.secrets.push((label.to_owned(), secret.to_owned()));
        } else {
            self.answers.push((label.to_owned(), text));
        }
        (status, json, cookies)
    }

    async fn api(&mut self, stack: &Stack, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let issues = match method {
            "POST" if path.ends_with("/credentials") || path.ends_with("/rotate") => Issues::EmbedSecret,
            // A member token, or an invitation code (exchanged for one).
            "POST" if path.ends_with("/tokens") || path.ends_with("/invitations") || path.ends_with("/redeem") => {
                Issues::MemberToken
            }
            _ => Issues::Nothing,
        };
        let mut req = http()
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", stack.admin.url))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let (status, json, _) = self.send(&format!("{method} {path}"), req, issues).await;
        (status, json)
    }

    async fn ok(&mut self, stack: &Stack, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let token = stack.token.clone();
        let (status, json) = self.api(stack, &token, method, path, body).await;
        assert_eq!(status, want, "{method} {path}: {json}");
        json
    }

    /// An embed load at `edge`: JSON or HTML, with a token and/or a session cookie.
    async fn embed(
        &mut self,
        edge: &Edge,
        org: &str,
        token: Option<&str>,
        cookie: Option<&str>,
        html: bool,
    ) -> (u16, Value, Vec<String>) {
        let mut url = format!("{}/{org}/workbook/wb-1?theme=dark", edge.url);
        if let Some(token) = token {
            let _ = write!(url, "&:jwt={token}&:embed=true");
        }
        let accept = if html { "text/html" } else { "application/json" };
        let mut req = http().get(url).header("accept", accept);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        self.send(&format!("embed at {} (html: {html})", edge.name), req, Issues::Nothing).await
    }

    /// A fresh token of (client_id, secret) for `sub` at every edge: 200.
    async fn embeds_everywhere(&mut self, stack: &Stack, client_id: &str, secret: &str, sub: &str) -> Vec<String> {
        let mut cookies = Vec::new();
        for edge in &stack.edges {
            let token = pyjwt_sign(client_id, secret, sub, None);
            let (status, body, set) = self.embed(edge, ORG, Some(&token), None, false).await;
            assert_eq!(status, 200, "{}: {body}", edge.name);
            cookies.extend(set);
            // The same token again: replayed.
            let (status, body, _) = self.embed(edge, ORG, Some(&token), None, false).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("replayed")), "{}: {body}", edge.name);
        }
        cookies
    }

    async fn refused_everywhere(&mut self, stack: &Stack, client_id: &str, secret: &str, sub: &str, code: &str) {
        for edge in &stack.edges {
            let token = pyjwt_sign(client_id, secret, sub, None);
            for html in [false, true] {
                let (status, body, _) = self.embed(edge, ORG, Some(&token), None, html).await;
                assert!(status == 401 || status == 403, "{}: {status} {body}", edge.name);
                if !html {
                    assert_eq!(body["error"], code, "{}: {body}", edge.name);
                }
            }
        }
    }

    /// `embedgate ARGS` with the secret in `EG_SECRET`; (exit code, stdout + stderr).
    fn cli(&mut self, args: &[&str], secret: &str) -> (i32, String) {
        let out = Command::new(embedgate_bin())
            .args(args)
            .env("EG_SECRET", secret)
            .env_remove("EMBEDGATE_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        self.answers.push((format!("embedgate {}", args.first().unwrap()), text.clone()));
        (out.status.code().unwrap_or(-1), text)
    }
}

// ------------------------------------------------------------------ the scenario

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn no_secret_survives_anywhere() {
    let mut stack = Stack::start_tracing(2).await;
    let mut rec = Record::default();
    let master_key = stack.master_key();
    let sync_key = stack.sync_key.clone();
    let edge_key = stack.edge_key.clone();

    step("members: a creator with a token");
    rec.ok(
        &stack,
        "POST",
        &format!("/api/v1/orgs/{ORG}/members"),
        Some(json!({"email": CAROL, "account_type": "creator"})),
        201,
    )
    .await;
    // Her first token: an invitation she redeems (an admin cannot issue one for her).
    let invitation =
        rec.ok(&stack, "POST", &format!("/api/v1/orgs/{ORG}/members/{CAROL}/invitations"), None, 201).await;
    let code = json!({"code": invitation["code"]});
    let carol_token = rec.ok(&stack, "POST", "/api/v1/invitations/redeem", Some(code), 201).await;
    let carol_token = carol_token["token"].as_str().unwrap().to_owned();

    step("credentials: two of the admin's (one with a policy), one of the creator's");
    let creds = format!("/api/v1/orgs/{ORG}/credentials");
    let mut ids = Vec::new();
    for body in [
        json!({"name": "Portal", "owner": ADMIN, "privileges": ["embedding"], "description": "the customer portal"}),
        json!({"name": "Intranet", "owner": ADMIN, "privileges": ["embedding", "api"],
               "allowed_origins": ["https://intranet.example.com"], "max_token_lifetime_s": 3600}),
        json!({"name": "Carol's", "owner": CAROL, "privileges": ["embedding"]}),
    ] {
        let answer = rec.ok(&stack, "POST", &creds, Some(body), 201).await;
        ids.push(answer["client_id"].as_str().unwrap().to_owned());
    }
    let secret = |rec: &Record, i: usize| rec.secrets[i].1.clone();
    let (portal, intranet, carols) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    stack.wait_pushed().await;

    step("embeds at both edges: success, replay, sessions, HTML first load");
    let mut cookies = rec.embeds_everywhere(&stack, &portal, &secret(&rec, 0), ALICE).await;
    cookies.extend(rec.embeds_everywhere(&stack, &intranet, &secret(&rec, 1), ALICE).await);
    cookies.extend(rec.embeds_everywhere(&stack, &carols, &secret(&rec, 2), CAROL).await);
    for edge in &stack.edges {
        let token = pyjwt_sign(&portal, &secret(&rec, 0), ALICE, None);
        // A page load answers 303 to the URL without :jwt, with the session; the page follows on it.
        let (status, _, set) = rec.embed(edge, ORG, Some(&token), None, true).await;
        assert_eq!(status, 303, "{}", edge.name);
        let (status, _, _) = rec.embed(edge, ORG, None, set.first().map(String::as_str), true).await;
        assert_eq!(status, 200, "{}", edge.name);
        cookies.extend(set);
    }
    for (edge, cookie) in stack.edges.iter().cycle().zip(&cookies) {
        let (status, body, _) = rec.embed(edge, ORG, None, Some(cookie), false).await;
        assert!(status == 200 || status == 401, "{}: {body}", edge.name);
    }

    step("refusals: a wrong secret, impersonation, another org's URL, garbage");
    let wrong = EmbedSecret::generate().unwrap().expose_secret().to_owned();
    rec.refused_everywhere(&stack, &portal, &wrong, ALICE, "bad_signature").await;
    rec.refused_everywhere(&stack, &carols, &secret(&rec, 2), ALICE, "impersonation_not_allowed").await;
    for edge in &stack.edges {
        let token = pyjwt_sign(&portal, &secret(&rec, 0), ALICE, None);
        let (status, body, _) = rec.embed(edge, OTHER_ORG, Some(&token), None, false).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("org_mismatch")), "{body}");
        let (status, _, _) = rec.embed(edge, ORG, Some("not.a.token"), None, true).await;
        assert_eq!(status, 401);
        let forged = rec
            .send(
                "forged sync push",
                http()
                    .post(format!("{}{}", edge.url, embedgate_core::sync::SYNC_PATH))
                    .header(embedgate_core::sync::SIGNATURE_HEADER, format!("v1={}", "0".repeat(64)))
                    .body(r#"{"version":999,"snapshot":null,"usage_after":0,"nonce":"x"}"#),
                Issues::Nothing,
            )
            .await;
        assert_eq!(forged.0, 401);
    }

    step("rotate: both live secrets verify; retire-previous: only the new one");
    rec.ok(&stack, "POST", &format!("{creds}/{portal}/rotate"), Some(json!({})), 200).await;
    rec.ok(&stack, "POST", &format!("{creds}/{carols}/rotate"), None, 200).await;
    stack.wait_pushed().await;
    let (portal_new, carols_new) = (secret(&rec, 3), secret(&rec, 4));
    rec.embeds_everywhere(&stack, &portal, &secret(&rec, 0), ALICE).await;
    rec.embeds_everywhere(&stack, &portal, &portal_new, ALICE).await;
    rec.embeds_everywhere(&stack, &carols, &carols_new, CAROL).await;
    rec.ok(&stack, "POST", &format!("{creds}/{portal}/retire-previous"), Some(json!({})), 200).await;
    stack.wait_pushed().await;
    rec.refused_everywhere(&stack, &portal, &secret(&rec, 0), ALICE, "bad_signature").await;
    rec.embeds_everywhere(&stack, &portal, &portal_new, ALICE).await;

    step("revoke: refused everywhere, sessions end");
    rec.ok(&stack, "POST", &format!("{creds}/{intranet}/revoke"), Some(json!({})), 200).await;
    rec.ok(&stack, "POST", &format!("{creds}/{carols}/revoke"), None, 200).await;
    stack.wait_pushed().await;
    rec.refused_everywhere(&stack, &intranet, &secret(&rec, 1), ALICE, "credential_revoked").await;
    rec.refused_everywhere(&stack, &carols, &carols_new, CAROL, "credential_revoked").await;
    for (edge, cookie) in stack.edges.iter().cycle().zip(&cookies) {
        rec.embed(edge, ORG, None, Some(cookie), false).await;
    }

    step("every read of the admin API, as the admin and as the creator");
    let admin_token = stack.token.clone();
    let reads = [
        format!("/api/v1/orgs/{ORG}/credentials"),
        format!("/api/v1/orgs/{ORG}/credentials?limit=1"),
        format!("/api/v1/orgs/{ORG}/credentials/{portal}"),
        format!("/api/v1/orgs/{ORG}/credentials/{intranet}"),
        format!("/api/v1/orgs/{ORG}/credentials/{carols}"),
        format!("/api/v1/orgs/{ORG}/members"),
        format!("/api/v1/orgs/{ORG}/audit"),
        format!("/api/v1/orgs/{ORG}/audit?limit=500"),
        "/api/v1/edges".to_owned(),
        "/api/v1/openapi.json".to_owned(),
        "/metrics".to_owned(),
        "/healthz".to_owned(),
    ];
    for path in &reads {
        let (status, body) = rec.api(&stack, &admin_token, "GET", path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        rec.api(&stack, &carol_token, "GET", path, None).await;
    }
    // Refusals of the admin API.
    rec.api(&stack, &carol_token, "POST", &format!("{creds}/{portal}/rotate"), None).await;
    rec.api(&stack, &admin_token, "POST", &format!("{creds}/{intranet}/rotate"), None).await;
    rec.api(
        &stack,
        &admin_token,
        "POST",
        &creds,
        Some(json!({"name": "Portal", "owner": ADMIN, "privileges": ["embedding"]})),
    )
    .await;
    rec.api(&stack, "egt_nope", "GET", &creds, None).await;
    for edge in &stack.edges {
        rec.send(&format!("{} healthz", edge.name), http().get(format!("{}/healthz", edge.url)), Issues::Nothing).await;
    }

    step("the host app's CLI: sign and verify with the secret in the environment");
    let (code, token) =
        rec.cli(&["sign", "--client-id", &portal, "--secret-env", "EG_SECRET", "--sub", ALICE], &portal_new);
    assert_eq!(code, 0, "{token}");
    let token = token.trim().to_owned();
    let (code, out) =
        rec.cli(&["verify", "--client-id", &portal, "--secret-env", "EG_SECRET", "--org", ORG, &token], &portal_new);
    assert_eq!(code, 0, "{out}");
    let (code, out) = rec.cli(&["verify", "--client-id", &portal, "--secret-env", "EG_SECRET", &token], &wrong);
    assert_eq!(code, 1, "{out}");
    let url = format!("{}/{ORG}/workbook/wb-1", stack.edges[0].url);
    let (code, out) = rec.cli(
        &["sign", "--client-id", &portal, "--secret-env", "EG_SECRET", "--sub", ALICE, "--url", &url, "--ttl", "5m"],
        &portal_new,
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = rec.cli(&["sign", "--client-id", "zz", "--secret-env", "EG_SECRET", "--sub", ALICE], &portal_new);
    assert_ne!(code, 0, "{out}");
    let (status, body, _) = rec.embed(&stack.edges[1], ORG, Some(&token), None, false).await;
    assert_eq!(status, 200, "the CLI's token at the edge: {body}");

    step("stop every process, then search what they left");
    stack.admin.stop();
    for edge in &mut stack.edges {
        edge.stop().await;
    }
    let files = files_under(stack.dir());
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    assert!(files.iter().any(|(p, _)| p.ends_with("embedgate.db")), "no admin database among {} files", files.len());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "sqlite") && p.to_string_lossy().contains("-state")),
        "no Durable Object SQLite file under the edges' state: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );

    // Needles: every issued secret (and the wrong one), the master and sync keys.
    let mut needles = Needles::default();
    for (label, s) in &rec.secrets {
        needles.add_text(&format!("embed secret ({label})"), s);
        needles.add_key(&format!("embed secret key bytes ({label})"), &decode_printable("egs_", s).unwrap());
    }
    needles.add_text("the wrong secret", &wrong);
    needles.add_text("master key", &master_key);
    needles.add_key("master key bytes", MasterKey::from_printable(&master_key).unwrap().expose_bytes());
    needles.add_text("sync key", &sync_key);
    needles.add_key("sync key bytes", SyncKey::from_printable(&sync_key).unwrap().expose_bytes());
    needles.add_text("edge key", &edge_key);
    needles.add_key("edge key bytes", EdgeKey::from_printable(&edge_key).unwrap().expose_bytes());
    needles.add_text("the admin's member token", &admin_token);
    needles.add_text("the creator's member token", &carol_token);

    let mut leaks = Vec::new();
    for (path, data) in &files {
        let shown = path.strip_prefix(stack.dir()).unwrap().display().to_string();
        for what in needles.find(data) {
            leaks.push(format!("{shown}: {what}"));
        }
        leaks.extend(shaped(&String::from_utf8_lossy(data)).into_iter().map(|w| format!("{shown}: {w}")));
    }
    for (label, text) in &rec.answers {
        for what in needles.find(text.as_bytes()) {
            leaks.push(format!("answer to {label}: {what}"));
        }
        leaks.extend(shaped(text).into_iter().map(|w| format!("answer to {label}: {w}")));
    }
    eprintln!(
        "no_leak: {} files ({bytes} bytes) and {} answers searched for {} secrets ({} issued, {} issuing answers \
         skipped) in {} forms: {} leaks",
        files.len(),
        rec.answers.len(),
        rec.secrets.len() + 6,
        rec.secrets.len(),
        rec.issuing,
        needles.list.len(),
        leaks.len()
    );
    for (path, data) in &files {
        // Not secrets (single-use tokens, 10-minute sessions), but worth knowing where they rest.
        let text = String::from_utf8_lossy(data);
        let (tokens, sessions) = (text.matches(":jwt=eyJ").count(), text.matches("embedgate_session=").count());
        let note = if tokens + sessions > 0 {
            format!(" ({tokens} tokens, {sessions} session cookies)")
        } else {
            String::new()
        };
        eprintln!("  {:>9} {}{note}", data.len(), path.strip_prefix(stack.dir()).unwrap().display());
    }
    assert_eq!(rec.secrets.len(), 5, "three creates and two rotations");

    // The edges' state: secrets wrapped under the edge key, nothing under the master key.
    let master_id = MasterKey::from_printable(&master_key).unwrap().id().to_string();
    let edge_id = EdgeKey::from_printable(&edge_key).unwrap().id().to_string();
    let edge_files: Vec<&(PathBuf, Vec<u8>)> =
        files.iter().filter(|(p, _)| p.strip_prefix(stack.dir()).unwrap().starts_with("edge-a-state")).collect();
    let wrapped = |id: &str| {
        let needle = format!("{id}.");
        edge_files.iter().map(|(_, d)| String::from_utf8_lossy(d).matches(needle.as_str()).count()).sum::<usize>()
    };
    let (under_edge, under_master) = (wrapped(&edge_id), wrapped(&master_id));
    eprintln!("no_leak: edge-a's state holds {under_edge} values wrapped under the edge key, {under_master} under the master key");
    assert!(under_edge > 0, "no value wrapped under the edge key in edge-a's state: is the search looking at it?");
    assert_eq!(under_master, 0, "a value wrapped under the master key reached an edge");
    let master_id_anywhere: Vec<String> = files
        .iter()
        .filter(|(p, d)| {
            !p.strip_prefix(stack.dir()).unwrap().starts_with("admin")
                && String::from_utf8_lossy(d).contains(&master_id)
        })
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(master_id_anywhere.is_empty(), "the master key's id outside the admin: {master_id_anywhere:?}");
    let serve_log = files.iter().find(|(p, _)| p.ends_with("admin/serve-1.log")).unwrap();
    assert!(serve_log.1.len() > 10_000, "the admin logged little at trace: is RUST_LOG honoured?");
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    step("done");
}

// ------------------------------------------------------------------ searching

fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.push((entry.path(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The 32 key bytes behind a printable key (`egs_`/`egm_`/`egk_` + base32 of key ‖ checksum).
fn decode_printable(prefix: &str, s: &str) -> Option<Vec<u8>> {
    let body = s.strip_prefix(prefix)?;
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in body.bytes() {
        let v = u32::try_from(B32.iter().position(|&a| a == c)?).ok()?;
        acc = (acc << 5 | v) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    (out.len() == 36).then(|| out[..32].to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn base64(bytes: &[u8], url: bool) -> String {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[usize::try_from(n >> (18 - 6 * i) & 63).unwrap()]));
        }
    }
    out
}

/// The base64 (or base64url) characters that encode `bytes` wherever they
/// sit in a longer encoded text: for each of the three alignments, the
/// characters that depend on `bytes` alone.
fn base64_anywhere(bytes: &[u8], url: bool) -> Vec<String> {
    (0..3)
        .map(|pad| {
            let mut padded = vec![0u8; pad];
            padded.extend_from_slice(bytes);
            let enc = base64(&padded, url);
            // Whole groups of three bytes only: the first one holds what
            // precedes, a last partial one what follows.
            let start = if pad == 0 { 0 } else { 4 };
            let end = 4 * (padded.len() / 3);
            enc[start..end.max(start)].to_owned()
        })
        .filter(|s| s.len() >= 16)
        .collect()
}

/// Byte strings to search for, indexed by their first 12 bytes.
#[derive(Default)]
struct Needles {
    list: Vec<(String, Vec<u8>)>,
    index: HashMap<[u8; 12], Vec<usize>>,
}

impl Needles {
    fn push(&mut self, what: String, bytes: Vec<u8>) {
        assert!(bytes.len() >= 12, "{what}: too short to search for");
        let key: [u8; 12] = bytes[..12].try_into().unwrap();
        self.index.entry(key).or_default().push(self.list.len());
        self.list.push((what, bytes));
    }

    /// Every form of `bytes` as raw bytes: themselves, hex, base64 anywhere.
    fn add_bytes(&mut self, what: &str, bytes: &[u8]) {
        self.push(format!("{what} (raw)"), bytes.to_vec());
        self.push(format!("{what} (hex)"), hex(bytes).into_bytes());
        self.push(format!("{what} (HEX)"), hex(bytes).to_uppercase().into_bytes());
        for url in [false, true] {
            for s in base64_anywhere(bytes, url) {
                self.push(format!("{what} (base64{})", if url { "url" } else { "" }), s.into_bytes());
            }
        }
    }

    /// A printable secret: its text in UTF-8 and UTF-16LE, and its bytes' encodings.
    fn add_text(&mut self, what: &str, text: &str) {
        self.add_bytes(what, text.as_bytes());
        self.push(format!("{what} (UTF-16LE)"), text.encode_utf16().flat_map(u16::to_le_bytes).collect());
    }

    /// Raw key bytes (32): the bytes, hex and base64 forms.
    fn add_key(&mut self, what: &str, key: &[u8]) {
        assert_eq!(key.len(), 32, "{what}");
        self.add_bytes(what, key);
    }

    /// What of the list occurs in `haystack`.
    fn find(&self, haystack: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        if haystack.len() < 12 {
            return found;
        }
        for i in 0..=haystack.len() - 12 {
            let key: [u8; 12] = haystack[i..i + 12].try_into().unwrap();
            if let Some(idx) = self.index.get(&key) {
                for &n in idx {
                    let (what, needle) = &self.list[n];
                    if haystack[i..].starts_with(needle) {
                        found.push(what.clone());
                    }
                }
            }
        }
        found
    }
}

/// Secret-shaped strings in `text`: embed secrets, master and sync keys.
fn shaped(text: &str) -> Vec<String> {
    let mut found: Vec<String> =
        find_embed_secrets(text).into_iter().map(|r| format!("a secret-shaped string at byte {}", r.start)).collect();
    for (prefix, what) in [("egm_", "master"), ("egk_", "sync"), ("ege_", "edge")] {
        for (at, _) in text.match_indices(prefix) {
            let candidate = text.get(at..at + 62).unwrap_or_default();
            let valid = match what {
                "master" => MasterKey::from_printable(candidate).is_ok(),
                "edge" => EdgeKey::from_printable(candidate).is_ok(),
                _ => SyncKey::from_printable(candidate).is_ok(),
            };
            if valid {
                found.push(format!("a {what}-key-shaped string at byte {at}"));
            }
        }
    }
    found
}

/// The search itself finds each form (so an empty result means something).
#[test]
fn the_search_finds_every_form() {
    let secret = EmbedSecret::generate().unwrap().expose_secret().to_owned();
    let key = decode_printable("egs_", &secret).unwrap();
    let mut needles = Needles::default();
    needles.add_text("s", &secret);
    needles.add_key("k", &key);
    let hay = |inner: &[u8]| [b"prefix--".as_slice(), inner, b"--suffix".as_slice()].concat();
    for (label, inner) in [
        ("text", secret.clone().into_bytes()),
        ("hex", hex(secret.as_bytes()).into_bytes()),
        ("key raw", key.clone()),
        ("key hex", hex(&key).into_bytes()),
        ("utf16", secret.encode_utf16().flat_map(u16::to_le_bytes).collect()),
    ] {
        assert!(!needles.find(&hay(&inner)).is_empty(), "{label}");
    }
    // base64 of the secret inside a longer text, at every offset (as in a JWT payload).
    for pad in 0..3 {
        for url in [false, true] {
            let mut json = b"{\"k\":\"".to_vec();
            json.extend(std::iter::repeat_n(b'x', pad));
            json.extend_from_slice(secret.as_bytes());
            json.extend_from_slice(b"\"}");
            assert!(!needles.find(base64(&json, url).as_bytes()).is_empty(), "base64 pad {pad} url {url}");
            let mut bin = vec![7u8; pad];
            bin.extend_from_slice(&key);
            bin.push(9);
            assert!(!needles.find(base64(&bin, url).as_bytes()).is_empty(), "key base64 pad {pad} url {url}");
        }
    }
    assert!(needles.find(b"nothing to see here, really nothing").is_empty());
    assert_eq!(shaped(&format!("x {secret} y")).len(), 1);
    let m = MasterKey::generate().unwrap().to_printable().to_string();
    assert_eq!(shaped(&format!("x={m}\n")).len(), 1);
    assert_eq!(decode_printable("egm_", &m).unwrap(), MasterKey::from_printable(&m).unwrap().expose_bytes());
}

/// No MAC tag is compared with `==` / `!=` in the code that checks them;
/// the checks go through `verify_slice` (constant time).
#[test]
fn no_tag_is_compared_with_eq() {
    let root = repo_root();
    let mut offenders = Vec::new();
    let mut sources = 0;
    for dir in ["crates/core/src", "crates/edge/src", "crates/admin/src"] {
        for (path, data) in files_under(&root.join(dir)) {
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            sources += 1;
            let text = String::from_utf8(data).unwrap();
            // Unit tests (from `#[cfg(test)]` on) may compare what they like.
            for (n, line) in text.lines().enumerate().take_while(|(_, l)| l.trim() != "#[cfg(test)]") {
                let code = line.split("//").next().unwrap();
                for op in [" == ", " != "] {
                    for (at, _) in code.match_indices(op) {
                        let operand = |s: &str| s.to_ascii_lowercase();
                        let left = operand(code[..at].rsplit([' ', '(', '!', '&', '|', '{']).next().unwrap_or(""));
                        let right =
                            operand(code[at + 4..].split([' ', ')', ';', '&', '|', '{', ',']).next().unwrap_or(""));
                        // A length is not a tag.
                        let suspicious = |s: &str| {
                            !s.contains("len")
                                && ["tag", "mac", "sig", "digest", "hmac", "finalize", "into_bytes"]
                                    .iter()
                                    .any(|w| s.contains(w))
                        };
                        if suspicious(&left) || suspicious(&right) {
                            offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
    }
    assert!(sources > 20, "only {sources} sources found");
    assert!(offenders.is_empty(), "a MAC compared with ==/!= (use verify_slice):\n{}", offenders.join("\n"));
    // And the checks that exist do use verify_slice.
    let jws = std::fs::read_to_string(root.join("crates/core/src/jws.rs")).unwrap();
    assert!(jws.contains("mac.verify_slice(tag)"), "Hs256Key::verify no longer uses verify_slice");
    let sync = std::fs::read_to_string(root.join("crates/core/src/sync.rs")).unwrap();
    assert!(sync.contains(".verify_slice("), "the sync tag check no longer uses verify_slice");
    let ring = std::fs::read_to_string(root.join("crates/core/src/credential.rs")).unwrap();
    assert!(ring.contains("k.verify(message, tag)"), "KeyRing::verify no longer goes through Hs256Key::verify");
}
