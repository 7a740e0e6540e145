//! Faults in the push path with a bounded edge (`EMBEDGATE_MAX_STATE_AGE`):
//! the admin goes away, old or future-stamped probes arrive, the admin comes
//! back. The edge fails closed while nobody vouches for its state, a
//! replayed probe cannot make it look fresh, a clock running ahead cannot
//! buy it time, and `/healthz` tells the truth throughout.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use embedgate_core::sync::{seal_request, SyncRequest};
use embedgate_core::SyncKey;
use embedgate_e2e::{step, Stack, ADMIN, ORG, RECONCILE};

/// The edge's bound in these tests (seconds).
const MAX_AGE_S: u64 = 4;

fn unix_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

async fn wait_health(stack: &Stack, want_stale: bool, within: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let (status, body) = stack.edges[0].healthz_raw().await;
        if body["stale"] == want_stale {
            assert_eq!(status, if want_stale { 503 } else { 200 }, "{body}");
            assert_eq!(body["ok"], !want_stale, "{body}");
            return body;
        }
        assert!(t0.elapsed() < within, "the edge is not stale={want_stale} after {within:?}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_edge_fails_closed_while_nobody_vouches_for_its_state() {
    let max_age = MAX_AGE_S.to_string();
    let mut stack = Stack::start_with_edge_vars(1, &[("EMBEDGATE_MAX_STATE_AGE", &max_age)]).await;
    let portal = stack.create_credential("Portal", ADMIN).await;
    stack.wait_in_sync(Duration::from_secs(10)).await;
    let key = SyncKey::from_printable(&stack.sync_key).unwrap();

    step("while the admin probes (every 2 s) the state is fresh");
    let health = wait_health(&stack, false, Duration::from_secs(5)).await;
    assert_eq!(health["max_state_age_s"], MAX_AGE_S);
    assert!(health["age_s"].as_i64().unwrap() <= i64::try_from(RECONCILE.as_secs()).unwrap() + 1, "{health}");
    let a = stack.edges[0].embed(ORG, Some(&portal.sign("ana@acme.test")), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let session = a.session_cookie().unwrap();

    step("the admin goes away: past the bound the edge refuses embeds, sessions included");
    stack.admin.stop();
    let stopped = Instant::now();
    let health = wait_health(&stack, true, Duration::from_secs(MAX_AGE_S + 5)).await;
    step(&format!("stale {:.1}s after the admin stopped: {health}", stopped.elapsed().as_secs_f64()));
    let a = stack.edges[0].embed(ORG, Some(&portal.sign("ana@acme.test")), None).await;
    assert_eq!((a.status, a.error()), (503, "state_stale"), "{:?}", a.body);
    let a = stack.edges[0].embed(ORG, None, Some(&session)).await;
    assert_eq!((a.status, a.error()), (503, "state_stale"), "{:?}", a.body);

    step("a replayed old probe, or one without a stamp, does not make it fresh");
    let version = stack.edges[0].healthz_raw().await.1["version"].as_u64().unwrap();
    for sent_at in [unix_now() - 60, 0] {
        let sealed =
            seal_request(&SyncRequest::probe("", version, std::collections::BTreeMap::new(), sent_at).unwrap(), &key);
        let a = stack.edges[0].sync_raw(sealed.body, Some(&sealed.signature)).await;
        assert_eq!(a.status, 200, "an authentic probe is answered: {:?}", a.body);
        let (status, health) = stack.edges[0].healthz_raw().await;
        assert_eq!((status, &health["stale"]), (503, &serde_json::json!(true)), "sent_at {sent_at}: {health}");
    }

    step("a probe stamped an hour ahead (admin clock skew) vouches only up to the edge's now");
    let sealed = seal_request(
        &SyncRequest::probe("", version, std::collections::BTreeMap::new(), unix_now() + 3600).unwrap(),
        &key,
    );
    let a = stack.edges[0].sync_raw(sealed.body, Some(&sealed.signature)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let health = wait_health(&stack, false, Duration::from_secs(2)).await;
    assert!(health["last_sync_at"].as_i64().unwrap() <= unix_now(), "clamped to the edge's clock: {health}");
    wait_health(&stack, true, Duration::from_secs(MAX_AGE_S + 5)).await;

    step("the admin comes back: its next probe makes the edge serve again");
    stack.admin.start().await;
    let back = Instant::now();
    wait_health(&stack, false, RECONCILE + Duration::from_secs(5)).await;
    step(&format!("fresh {:.1}s after the admin was back", back.elapsed().as_secs_f64()));
    let a = stack.edges[0].embed(ORG, Some(&portal.sign("ana@acme.test")), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = stack.edges[0].embed(ORG, None, Some(&session)).await;
    assert_eq!(a.status, 200, "the session outlived the outage: {:?}", a.body);
    step("done");
}
