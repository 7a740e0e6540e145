//! The edge change log and what the edges are pushed, on real databases
//! (SQLite, and PostgreSQL when configured): every change records what it
//! touched at its version, a delta carries exactly the records changed
//! after a version (as they are now, with their versions), pages split under
//! a byte budget without losing or repeating anything, a full state covers
//! every org in order, and pruning raises the floor below which only a full
//! state will do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::{backends, Env, ADMIN, ORG};
use embedgate_admin::store::export::{self, DeltaCursor, FullCursor};
use embedgate_core::OrgChanges;
use serde_json::json;

fn creds() -> String {
    format!("/api/v1/orgs/{ORG}/credentials")
}

/// Every page of the delta after `from` up to `to`, at `budget` bytes a page.
async fn delta(env: &Env, from: u64, to: u64, budget: usize) -> Vec<Vec<OrgChanges>> {
    let mut pages = Vec::new();
    let mut cursor: Option<DeltaCursor> = None;
    loop {
        let (orgs, next) =
            export::delta_page(env.db(), &env.sealer(), from, to, cursor.as_ref(), budget).await.unwrap();
        pages.push(orgs);
        match next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

/// Every page of the full state, at `budget` bytes a page.
async fn full(env: &Env, budget: usize) -> Vec<Vec<OrgChanges>> {
    let mut pages = Vec::new();
    let mut cursor = FullCursor::default();
    loop {
        let (orgs, next) = export::full_page(env.db(), &env.sealer(), &cursor, budget).await.unwrap();
        pages.push(orgs);
        match next {
            Some(next) => cursor = next,
            None => return pages,
        }
    }
}

async fn version(env: &Env) -> u64 {
    u64::try_from(env.db().state_version().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_delta_carries_exactly_what_changed_with_its_version() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let a = env.create_credential("a").await;
        let b = env.create_credential("b").await;
        let (a_id, b_id) = (a["client_id"].as_str().unwrap().to_owned(), b["client_id"].as_str().unwrap().to_owned());
        let v0 = version(&env).await;

        // Three changes after v0: a rotated, b revoked then deleted, a member retyped.
        let (s, _) = env.call("POST", &format!("{}/{a_id}/rotate", creds()), t, None).await;
        assert_eq!(s, StatusCode::OK);
        let v_rotate = version(&env).await;
        assert_eq!(env.call("POST", &format!("{}/{b_id}/revoke", creds()), t, None).await.0, StatusCode::OK);
        assert_eq!(env.call("DELETE", &format!("{}/{b_id}", creds()), t, None).await.0, StatusCode::OK);
        let v_delete = version(&env).await;
        let carl = env.member_with_token("carl@acme.test", "creator").await;
        let member = format!("/api/v1/orgs/{ORG}/members/carl@acme.test");
        let (s, _) = env.call("PATCH", &member, t, Some(&json!({"account_type": "viewer"}))).await;
        assert_eq!(s, StatusCode::OK);
        // Nothing the edges see: no version, nothing logged.
        let v1 = version(&env).await;
        let (s, _) =
            env.call("POST", &format!("/api/v1/orgs/{ORG}/members/carl@acme.test/tokens"), Some(&carl), None).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(version(&env).await, v1, "issuing a token changes nothing the edges see");
        assert_eq!(v1, v0 + 4);

        let pages = delta(&env, v0, v1, 900 * 1024).await;
        assert_eq!(pages.len(), 1);
        let org = pages[0].iter().find(|o| o.org.as_str() == ORG).unwrap();
        assert_eq!(org.credentials.len(), 1, "{org:?}");
        let rotated = &org.credentials[0];
        assert_eq!((rotated.client_id.as_str(), rotated.version), (a_id.as_str(), v_rotate));
        assert_eq!(rotated.secrets.iter().map(|s| s.generation).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(org.deleted.len(), 1);
        assert_eq!((org.deleted[0].client_id.as_str(), org.deleted[0].version), (b_id.as_str(), v_delete));
        let carl = org.owners.iter().find(|o| o.email == "carl@acme.test").unwrap();
        assert_eq!((carl.version, carl.account_type.as_str()), (v1, "viewer"));
        assert!(org.owners.iter().any(|o| o.email == ADMIN), "the owner of a changed credential goes with it");

        // A delta from where an edge already is brings nothing; one from the middle only the rest.
        assert!(delta(&env, v1, v1 + 1, 900 * 1024).await[0].is_empty());
        let tail = delta(&env, v_rotate, v1, 900 * 1024).await;
        let org = tail[0].iter().find(|o| o.org.as_str() == ORG).unwrap();
        assert!(org.credentials.is_empty() && org.deleted.len() == 1);
        assert_eq!(export::delta_size(env.db(), v0, v1, 100).await.unwrap(), 3, "a, b and carl");
        env.finish().await;
    }
}

#[tokio::test]
async fn pages_split_under_the_budget_and_lose_nothing() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let v0 = version(&env).await;
        let mut made = BTreeSet::new();
        for i in 0..40 {
            let c = env.create_credential(&format!("paged {i}")).await;
            made.insert(c["client_id"].as_str().unwrap().to_owned());
        }
        let v1 = version(&env).await;
        let budget = 4096;
        let pages = delta(&env, v0, v1, budget).await;
        assert!(pages.len() >= 3, "{} pages", pages.len());
        let mut seen = BTreeSet::new();
        for page in &pages {
            let bytes = serde_json::to_vec(page).unwrap().len();
            // A page stops once past the budget: at most one record (and its owner) over it.
            assert!(bytes < budget + 2048, "a page of {bytes} bytes");
            for org in page {
                for c in &org.credentials {
                    assert!(seen.insert(c.client_id.as_str().to_owned()), "a record in two pages");
                }
            }
        }
        assert_eq!(seen, made, "every changed record, once");

        // The full state: every org in order, each complete once, every credential once.
        env.create_credential("one more").await;
        embedgate_admin::server::init_org(env.db(), env.keys(), "zeta", "z@zeta.test").await.unwrap().unwrap();
        let pages = full(&env, budget).await;
        assert!(pages.len() >= 3, "{} pages", pages.len());
        for page in &pages {
            let bytes = serde_json::to_vec(page).unwrap().len();
            assert!(bytes < budget + 4096, "a full-state page of {bytes} bytes");
        }
        let mut orgs: Vec<String> = Vec::new();
        let mut complete = Vec::new();
        let mut count = 0;
        for page in &pages {
            for org in page {
                if orgs.last() != Some(&org.org.as_str().to_owned()) {
                    orgs.push(org.org.as_str().to_owned());
                }
                if org.complete {
                    complete.push(org.org.as_str().to_owned());
                }
                count += org.credentials.len();
            }
        }
        assert_eq!(orgs, ["acme", "zeta"]);
        assert_eq!(complete, ["acme", "zeta"], "each org completes once, in order");
        assert_eq!(count, 41);
        env.finish().await;
    }
}

#[tokio::test]
async fn pages_of_many_small_orgs_stay_under_the_budget_and_the_org_cap() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        // One credential per org: each org's envelope weighs about as much as its records.
        embedgate_admin::store::bulk::load(env.db(), env.keys(), "tiny", 300, 1, |_| {}).await.unwrap();
        let budget = 16 * 1024;
        let pages = full(&env, budget).await;
        assert!(pages.len() >= 3, "{} pages", pages.len());
        let mut orgs = 0;
        for page in &pages {
            let bytes = serde_json::to_vec(page).unwrap().len();
            // At most one record (and its org's envelope) over the budget, however many orgs a page holds.
            assert!(bytes < budget + 2048, "a full-state page of {bytes} bytes for {} orgs", page.len());
            orgs += page.iter().filter(|o| o.complete).count();
        }
        assert_eq!(orgs, 301, "every org once (and the test's own)");

        // However large the budget, a page holds at most PAGE_MAX_ORGS orgs (each is a store call per region).
        let pages = full(&env, 900 * 1024).await;
        assert!(
            pages.iter().all(|p| p.len() <= export::PAGE_MAX_ORGS),
            "{:?}",
            pages.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(pages.iter().flatten().filter(|o| o.complete).count(), 301);
        let v0 = version(&env).await;
        embedgate_admin::store::bulk::load(env.db(), env.keys(), "more", 250, 1, |_| {}).await.unwrap();
        let pages = delta(&env, v0, version(&env).await, 900 * 1024).await;
        assert!(pages.len() >= 3, "{} delta pages", pages.len());
        assert!(
            pages.iter().all(|p| p.len() <= export::PAGE_MAX_ORGS),
            "{:?}",
            pages.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(pages.iter().flatten().map(|o| o.credentials.len()).sum::<usize>(), 250);
        env.finish().await;
    }
}

#[tokio::test]
async fn pruning_raises_the_floor() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        env.create_credential("old").await;
        let before = version(&env).await;
        assert!(export::floor(env.db()).await.unwrap() < before);
        // Everything logged until now is older than "the future".
        let floor = export::prune(env.db(), embedgate_admin::server::now() + 10).await.unwrap();
        assert_eq!(floor, before, "the floor is the newest version pruned");
        assert_eq!(export::delta_size(env.db(), 0, before, 100).await.unwrap(), 0);
        // Changes after the floor are still there for deltas.
        env.create_credential("new").await;
        let after = version(&env).await;
        assert_eq!(export::delta_size(env.db(), before, after, 100).await.unwrap(), 1);
        assert_eq!(export::prune(env.db(), 0).await.unwrap(), before, "nothing older than 0: the floor stays");
        env.finish().await;
    }
}

/// A writer dropped while its BEGIN waits for the lock (a client that hangs
/// up mid-request: axum drops the handler's future) leaves no connection
/// inside a transaction: the writers after it go through (sqlx rolls back a
/// BEGIN that completes after its caller is gone).
#[tokio::test]
async fn a_writer_dropped_while_its_begin_waits_leaves_no_transaction_behind() {
    use sqlx::{Connection, Executor};
    for backend in backends() {
        let env = Env::new(&backend).await;
        let postgres = matches!(backend, common::Backend::Postgres(_));
        // Another connection holds the write lock (PostgreSQL: the state-version row).
        let mut holder = sqlx::AnyConnection::connect(&env.url).await.unwrap();
        if postgres {
            holder.execute("BEGIN").await.unwrap();
            holder.execute("SELECT version FROM state_version WHERE id = 1 FOR UPDATE").await.unwrap();
        } else {
            holder.execute("BEGIN IMMEDIATE").await.unwrap();
        }
        let waited = tokio::time::timeout(std::time::Duration::from_millis(300), env.db().change(ORG, ADMIN)).await;
        assert!(waited.is_err(), "the change waits for the lock the other connection holds");
        holder.execute("ROLLBACK").await.unwrap();
        holder.close().await.unwrap();

        // Several writes in a row, so that any pooled connection is used.
        for i in 0..4 {
            let change = tokio::time::timeout(std::time::Duration::from_secs(20), env.db().change(ORG, ADMIN))
                .await
                .expect("a change begins once the lock is free");
            drop(change.unwrap());
            env.create_credential(&format!("after the dropped writer {i}")).await;
        }
        let (status, body) = env.call("GET", &creds(), Some(&env.admin_token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["credentials"].as_array().map(Vec::len), Some(4), "{body}");
        env.finish().await;
    }
}
