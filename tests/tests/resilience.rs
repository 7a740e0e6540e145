//! The edge keeps its state across a restart, an edge that was down during
//! a change heals once it is back, and an edge that lost its state is
//! refilled.
//!
//! One stack (one admin, one edge) for both scenarios, in order: each
//! wrangler start costs ~15 s.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use embedgate_core::sync::{seal_request, SyncBody, SyncRequest};
use embedgate_core::{OrgChanges, SyncKey};
use embedgate_e2e::{step, Stack, ADMIN, ORG, RECONCILE};
use serde_json::{json, Value};

const ALICE: &str = "alice@customer.test";
/// How long a healed edge may take once it is back (the brief's bound; the
/// reconcile interval is 2 s, so this leaves room for backoff and a slow start).
const HEAL_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn edge_restart_keeps_state_and_an_outage_heals() {
    let mut stack = Stack::start(1).await;
    let portal = stack.create_credential("Customer portal", ADMIN).await;
    let doomed = stack.create_credential("Old integration", ADMIN).await;
    let version = stack.wait_in_sync(Duration::from_secs(5)).await;

    let used = portal.sign(ALICE);
    let a = stack.edges[0].embed(ORG, Some(&used), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let before = stack.edges[0].healthz().await;
    assert_eq!(before["version"], version);

    step("restart the edge with the admin stopped (no push can reach it): the state persisted");
    stack.admin.stop();
    stack.edges[0].stop().await;
    stack.edges[0].start().await;
    let edge = &stack.edges[0];
    let after = edge.healthz().await;
    assert_eq!(after["version"], before["version"], "{after}");
    assert_eq!(after["issued_at"], before["issued_at"], "{after}");
    assert_eq!(after["last_sync_at"], before["last_sync_at"], "{after}");
    for cred in [&portal, &doomed] {
        let a = edge.embed(ORG, Some(&cred.sign(ALICE)), None).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!((a.body["sub"].as_str(), a.body["client_id"].as_str()), (Some(ALICE), Some(&*cred.client_id)));
    }
    // The replay guard persisted too: a token used before the restart stays used.
    let a = edge.embed(ORG, Some(&used), None).await;
    assert_eq!((a.status, a.error()), (401, "replayed"), "{:?}", a.body);

    stack.admin.start().await;
    assert_eq!(stack.wait_in_sync(Duration::from_secs(10)).await, version);

    step("stop the edge, revoke a credential while it is down");
    stack.edges[0].stop().await;
    stack.post(&format!("/credentials/{}/revoke", doomed.client_id), json!({}), 200).await;
    let revoked_version = stack.state_version().await;
    assert!(revoked_version > version);
    let t0 = Instant::now();
    loop {
        let status = stack.edges_status().await;
        let listed = &status["edges"][0];
        if listed["state"] != "in_sync" {
            assert!(listed["applied_version"].as_u64() < Some(revoked_version), "{status}");
            assert!(["unreachable", "behind"].contains(&listed["state"].as_str().unwrap()), "{status}");
            step(&format!("the admin sees the edge {}", listed["state"]));
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "the admin still reports the stopped edge in sync: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    step("start it again: it heals within the deadline and refuses the revoked credential");
    stack.edges[0].start().await;
    let back = Instant::now();
    let edge = &stack.edges[0];
    edge.wait_version(revoked_version, HEAL_DEADLINE).await;
    step(&format!(
        "healed {:.1}s after the edge was back (reconcile interval {}s)",
        back.elapsed().as_secs_f64(),
        RECONCILE.as_secs()
    ));
    let a = edge.embed(ORG, Some(&doomed.sign(ALICE)), None).await;
    assert_eq!((a.status, a.error()), (401, "credential_revoked"), "{:?}", a.body);
    let a = edge.embed(ORG, Some(&portal.sign(ALICE)), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(stack.wait_in_sync(Duration::from_secs(10)).await, revoked_version);

    step("an edge that lost its state (fresh storage, same URL) is refilled");
    stack.edges[0].stop().await;
    stack.edges[0].wipe_state();
    stack.edges[0].start().await;
    let back = Instant::now();
    let edge = &stack.edges[0];
    edge.wait_version(revoked_version, HEAL_DEADLINE).await;
    step(&format!("refilled {:.1}s after the edge was back", back.elapsed().as_secs_f64()));
    let a = edge.embed(ORG, Some(&doomed.sign(ALICE)), None).await;
    assert_eq!((a.status, a.error()), (401, "credential_revoked"), "{:?}", a.body);
    let a = edge.embed(ORG, Some(&portal.sign(ALICE)), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(stack.wait_in_sync(Duration::from_secs(10)).await, revoked_version);

    step("an edge holding another database's state (at a higher version) is overtaken by the admin's state");
    let key = SyncKey::from_printable(&stack.sync_key).unwrap();
    let ahead = revoked_version + 100;
    // Another database's state: the org with no credential at all.
    let empty = OrgChanges { complete: true, ..OrgChanges::new(ORG.parse().unwrap()) };
    let body =
        SyncBody::Full { id: "foreign".into(), to: ahead, seq: 0, last: true, replace: false, orgs: vec![empty] };
    let foreign = SyncRequest::new("another-database", ahead, body, std::collections::BTreeMap::new(), 1).unwrap();
    let sealed = seal_request(&foreign, &key);
    let edge = &stack.edges[0];
    let a = edge.sync_raw(sealed.body, Some(&sealed.signature)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = edge.embed(ORG, Some(&portal.sign(ALICE)), None).await;
    assert_eq!((a.status, a.error()), (401, "unknown_client"), "the foreign state is applied: {:?}", a.body);
    // The admin sees another database's state there and replaces it with its own.
    let t0 = Instant::now();
    loop {
        let a = edge.embed(ORG, Some(&portal.sign(ALICE)), None).await;
        if a.status == 200 {
            break;
        }
        assert!(t0.elapsed() < HEAL_DEADLINE, "the admin's state did not replace the foreign one: {:?}", a.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let a = edge.embed(ORG, Some(&doomed.sign(ALICE)), None).await;
    assert_eq!((a.status, a.error()), (401, "credential_revoked"), "{:?}", a.body);
    let version = stack.wait_in_sync(Duration::from_secs(10)).await;
    let lineages: Vec<Value> =
        edge.healthz().await["regions"].as_array().unwrap().iter().map(|r| r["lineage"].clone()).collect();
    assert!(lineages.iter().all(|l| l != "another-database"), "{lineages:?} at version {version}");
    step("done");
}
