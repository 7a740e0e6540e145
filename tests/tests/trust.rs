//! The trust boundaries of an embed load on workerd (issue 14): the owner
//! rule on every identity claim, the identity the origin receives (encoded
//! headers and a signed assertion it verifies with the published keys), the
//! token leaving the URL after its first use, and framing denied unless the
//! credential allows it.
//!
//! One stack (an admin, one edge forwarding to a local origin) serves every
//! scenario, in order: each wrangler start costs ~15 s.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use embedgate_e2e::{http, pyjwt_sign, step, Answer, Credential, Edge, Stack, ADMIN, ORG};
use serde_json::{json, Value};

const KIM: &str = "kim@acme.test";

/// One request the origin received: its request line and headers (lower-cased names).
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A minimal origin on 127.0.0.1: it records each request and answers a
/// page with a Content-Security-Policy of its own (that also tries to allow
/// any framer). It lives as long as the test process.
fn start_origin() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            record.lock().unwrap().push(Seen { target, headers });
            let body = "<!doctype html><title>origin</title><p>the origin's page</p>";
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-security-policy: default-src 'self'; \
                 frame-ancestors *\r\nset-cookie: origin=1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

/// `GET {path}` on the edge as a browser page load (HTML), with `cookie`.
async fn page(edge: &Edge, path_and_query: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = http().get(format!("{}{path_and_query}", edge.url)).header("accept", "text/html");
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    // A client cannot hand the origin an identity: these are the edge's to set.
    req = req.header("x-embed-user", "ceo@acme.test").header("x-embedgate-assertion", "forged");
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Runs the README's verifier (`examples/verify-assertion.mjs`, Node's
/// standard library only): the claims, or the reason it refused.
fn verify_with_node(edge: &Edge, audience: &str, assertion: &str) -> Result<Value, String> {
    let node = embedgate_harness::node_bin().join("node");
    let script = embedgate_harness::repo_root().join("examples/verify-assertion.mjs");
    let out = Command::new(node).arg(script).args([&edge.url, audience, assertion]).output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

async fn create(stack: &Stack, body: Value) -> Credential {
    let answer = stack.post("/credentials", body, 201).await;
    Credential {
        client_id: answer["client_id"].as_str().unwrap().to_owned(),
        secret: answer["secret"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_boundaries_of_an_embed_load() {
    let (origin_url, seen) = start_origin();
    let stack = Stack::start_with_edge_vars(1, &[("ORIGIN_URL", &origin_url)]).await;
    let edge = &stack.edges[0];
    let portal = owner_rule(&stack, edge).await;
    framing(&stack, edge).await;
    clean_url_and_signed_identity(edge, &portal, &origin_url, &seen).await;
    step("a JSON load is unchanged: 200 with the identity, no redirect");
    let a: Answer = edge.embed(ORG, Some(&portal.sign("ana@customer.test")), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.session_cookie().is_some());
    assert_eq!(seen.lock().unwrap().len(), 1, "only the one page load reached the origin");
    step("done");
}

/// The owner rule on every identity claim; returns an admin-owned credential.
async fn owner_rule(stack: &Stack, edge: &Edge) -> Credential {
    step("a non-admin owner's credential carries its owner's identity, and claims nothing more");
    stack.post("/members", json!({"email": KIM, "account_type": "creator"}), 201).await;
    let kims = create(stack, json!({"name": "Kim's app", "owner": KIM, "privileges": ["embedding"]})).await;
    let portal = create(stack, json!({"name": "Portal", "owner": ADMIN, "privileges": ["embedding"]})).await;
    stack.wait_pushed().await;
    for typed in ["KIM@Acme.Test", "\u{212A}im@acme.test"] {
        let a = edge.embed(ORG, Some(&kims.sign(typed)), None).await;
        assert_eq!(a.status, 200, "{typed}: {:?}", a.body);
        assert_eq!(a.body["sub"], KIM, "{typed} is forwarded in its canonical form");
        assert_eq!(a.body["account_type"], "creator", "the owner's type when the token names none");
    }
    for extra in [json!({"teams": ["finance"]}), json!({"user_attributes": {"region": "all"}})] {
        let token = pyjwt_sign(&kims.client_id, &kims.secret, KIM, Some(&extra));
        let a = edge.embed(ORG, Some(&token), None).await;
        assert_eq!((a.status, a.error()), (403, "impersonation_not_allowed"), "{extra}: {:?}", a.body);
    }
    // An admin-owned credential signs for anyone, forwarded canonically.
    let a = edge.embed(ORG, Some(&portal.sign("Ana@Customer.Test")), None).await;
    assert_eq!((a.status, a.body["sub"].as_str()), (200, Some("ana@customer.test")), "{:?}", a.body);

    portal
}

/// `frame-ancestors` as each credential's `allowed_origins` say.
async fn framing(stack: &Stack, edge: &Edge) {
    step("framing is denied unless the credential allows it; 'self' only when listed; * only when said");
    let cases = [
        (None, "frame-ancestors 'none'"),
        (Some(json!(["*"])), "frame-ancestors *"),
        (Some(json!(["https://app.example.com"])), "frame-ancestors https://app.example.com"),
        (Some(json!(["'self'", "https://app.example.com"])), "frame-ancestors 'self' https://app.example.com"),
    ];
    for (i, (origins, want)) in cases.iter().enumerate() {
        let mut body = json!({"name": format!("Framing {i}"), "owner": ADMIN, "privileges": ["embedding"]});
        if let Some(origins) = origins {
            body["allowed_origins"] = origins.clone();
        }
        let cred = create(stack, body).await;
        stack.wait_pushed().await;
        let url = format!("{}/{ORG}/workbook/wb-1?:jwt={}", edge.url, cred.sign("ana@customer.test"));
        let resp = http().get(url).header("accept", "application/json").send().await.unwrap();
        assert_eq!(resp.status(), 200, "{origins:?}");
        assert_eq!(header(&resp, "content-security-policy"), *want, "{origins:?}");
    }
    let (status, answer) = stack
        .api(
            "POST",
            &format!("/api/v1/orgs/{ORG}/credentials"),
            Some(json!({"name": "Any and one", "owner": ADMIN, "privileges": ["embedding"],
                        "allowed_origins": ["*", "https://app.example.com"]})),
        )
        .await;
    assert_eq!((status, answer["field"].as_str()), (422, Some("allowed_origins")), "{answer}");
}

/// The token leaves the URL; the origin gets encoded headers and an assertion it can verify.
async fn clean_url_and_signed_identity(edge: &Edge, portal: &Credential, origin_url: &str, seen: &Mutex<Vec<Seen>>) {
    step("a page load with :jwt answers 303 to the same URL without it, the session cookie set");
    let token = portal.sign("józef@例え.jp");
    let first = page(edge, &format!("/{ORG}/workbook/wb-1?:embed=true&:jwt={token}&theme=dark"), None).await;
    assert_eq!(first.status(), 303);
    assert_eq!(header(&first, "location"), format!("/{ORG}/workbook/wb-1?:embed=true&theme=dark"));
    let set = header(&first, "set-cookie");
    assert!(set.starts_with("embedgate_session="), "{set}");
    assert!(seen.lock().unwrap().is_empty(), "the redirect reached the origin");
    let cookie = set.split(';').next().unwrap().to_owned();
    // The token was spent: the same URL without the session is a replay.
    let again = page(edge, &format!("/{ORG}/workbook/wb-1?:jwt={token}"), None).await;
    assert_eq!(again.status(), 401);

    step("the clean URL is forwarded with encoded identity headers and a signed assertion");
    let resp = page(edge, &format!("/{ORG}/workbook/wb-1?:embed=true&theme=dark"), Some(&cookie)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-security-policy"),
        "default-src 'self'; frame-ancestors 'none'",
        "the origin's directives are kept; who may frame is the credential's to say"
    );
    assert!(header(&resp, "set-cookie").is_empty(), "the origin's cookies are not passed on");
    assert!(resp.text().await.unwrap().contains("the origin's page"));
    let got = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(got.target, format!("/{ORG}/workbook/wb-1?:embed=true&theme=dark"));
    assert_eq!(got.header("x-embed-user"), Some("j%C3%B3zef@%E4%BE%8B%E3%81%88.jp"));
    assert_eq!(got.header("x-embed-org"), Some(ORG));
    assert_eq!(got.header("x-embed-client-id"), Some(portal.client_id.as_str()));
    let assertion = got.header("x-embedgate-assertion").unwrap().to_owned();
    assert_ne!(assertion, "forged");
    let claims = verify_with_node(edge, origin_url, &assertion).unwrap();
    assert_eq!(claims["sub"], "józef@例え.jp");
    assert_eq!(claims["org"], ORG);
    assert_eq!(claims["client_id"], portal.client_id);
    assert_eq!(claims["aud"], origin_url);
    assert_eq!(claims["iss"], edge.url);
    assert_eq!(claims["path"], format!("/{ORG}/workbook/wb-1"));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);

    step("the verifier refuses a changed claim, another audience and a foreign key");
    let mut parts: Vec<String> = assertion.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(&embedgate_core::jws::b64url_decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("ceo@acme.test");
    parts[1] = embedgate_core::jws::b64url_encode(payload.to_string().as_bytes());
    assert_eq!(verify_with_node(edge, origin_url, &parts.join(".")).unwrap_err(), "refused: bad signature");
    assert_eq!(verify_with_node(edge, "https://other.example", &assertion).unwrap_err(), "refused: wrong audience");
    let jwks: Value = http()
        .get(format!("{}{}", edge.url, embedgate_core::origin::JWKS_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0]["kty"].as_str(), keys[0]["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
}
