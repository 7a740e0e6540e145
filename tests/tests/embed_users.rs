//! Embed users (issue 15) over real processes: loads as two users at edge A
//! and one at edge B reach the admin as rows whose loads add up across the
//! edges, with account type and teams, filterable by credential, in pages.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use embedgate_e2e::{metric, pyjwt_sign, step, Answer, Edge, Stack, ORG};
use serde_json::{json, Value};

const ALICE: &str = "alice@customer.test";
const BOB: &str = "bob@customer.test";
const ZED: &str = "zed@customer.test";
const DEV: &str = "dev@acme.test";

fn ok(a: &Answer, edge: &Edge) {
    assert_eq!(a.status, 200, "{}: {:?}", edge.name, a.body);
}

async fn users(stack: &Stack, query: &str) -> Value {
    let (status, body) = stack.api("GET", &format!("/api/v1/orgs/{ORG}/embed-users{query}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn row<'a>(page: &'a Value, client_id: &str, email: &str) -> Option<&'a Value> {
    page["users"].as_array().unwrap().iter().find(|u| u["client_id"] == client_id && u["email"] == email)
}

#[tokio::test]
async fn embed_users_add_up_across_edges() {
    let stack = Stack::start(2).await;
    let portal = stack.create_credential("portal", embedgate_e2e::ADMIN).await;
    stack.post("/members", json!({"email": DEV, "account_type": "creator"}), 201).await;
    let devs = stack.create_credential("dev's", DEV).await;
    stack.wait_in_sync(Duration::from_secs(30)).await;
    let (a, b) = (&stack.edges[0], &stack.edges[1]);
    let claims = json!({"account_type": "explorer", "teams": ["sales", "ops"]});
    let sign = |sub: &str| pyjwt_sign(&portal.client_id, &portal.secret, sub, Some(&claims));

    step("loads: alice twice and bob at edge A, alice at edge B; a non-admin-owned credential at A");
    ok(&a.embed(ORG, Some(&sign(ALICE)), None).await, a);
    ok(&a.embed(ORG, Some(&sign(ALICE)), None).await, a);
    ok(&a.embed(ORG, Some(&pyjwt_sign(&portal.client_id, &portal.secret, BOB, None)), None).await, a);
    // Its owner's email, whatever its case: stored canonical.
    ok(&a.embed(ORG, Some(&pyjwt_sign(&devs.client_id, &devs.secret, "Dev@Acme.test", None)), None).await, a);
    ok(&b.embed(ORG, Some(&sign(ALICE)), None).await, b);
    // An isolate flushes at most every 10 s, on a load: one more load at each edge after that.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    ok(&a.embed(ORG, Some(&sign(ZED)), None).await, a);
    ok(&b.embed(ORG, Some(&sign(ZED)), None).await, b);

    step("the admin shows them, loads added up over both edges");
    let t0 = Instant::now();
    let page = loop {
        let page = users(&stack, "").await;
        let done = row(&page, &portal.client_id, ALICE).is_some_and(|u| u["loads"] == 3)
            && row(&page, &portal.client_id, ZED).is_some_and(|u| u["loads"] == 2);
        if done {
            break page;
        }
        // Usage travels on the next ack: a push or the periodic probe.
        assert!(t0.elapsed() < Duration::from_secs(30), "not there yet: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alice = row(&page, &portal.client_id, ALICE).unwrap();
    assert_eq!((alice["account_type"].as_str(), alice["teams"].clone()), (Some("explorer"), json!(["sales", "ops"])));
    assert!(alice["first_seen"].as_i64() <= alice["last_seen"].as_i64(), "{alice}");
    let bob = row(&page, &portal.client_id, BOB).unwrap();
    assert_eq!(
        (bob["loads"].as_i64(), bob["account_type"].clone(), bob["teams"].clone()),
        (Some(1), Value::Null, json!([]))
    );
    assert_eq!(row(&page, &devs.client_id, DEV).unwrap()["loads"], 1, "{page}");
    assert_eq!(page["users"].as_array().unwrap().len(), 4, "{page}");
    // Newest last seen first: zed's loads came last.
    assert_eq!(page["users"][0]["email"], ZED, "{page}");

    step("nothing was dropped, and /metrics says so per edge");
    let text = stack.metrics().await;
    for edge in &stack.edges {
        assert_eq!(metric(&text, "embedgate_embed_users_dropped_total", &[("edge", &edge.url)]), 0);
    }

    step("filtered by credential, and in pages");
    let only = users(&stack, &format!("?client_id={}", devs.client_id)).await;
    assert_eq!(only["users"].as_array().unwrap().len(), 1, "{only}");
    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = users(&stack, &query).await;
        seen.extend(page["users"].as_array().unwrap().iter().map(|u| format!("{}/{}", u["client_id"], u["email"])));
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=3&cursor={next}"),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "{seen:?}");
    let (status, e) = stack.api("GET", &format!("/api/v1/orgs/{ORG}/embed-users?limit=500"), None).await;
    assert_eq!((status, e["field"].as_str()), (422, Some("limit")), "{e}");
}
