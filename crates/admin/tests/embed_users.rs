//! Embed users (issue 15) at the admin: reports from edges add up once
//! each, the list pages, filters and refuses bad parameters, only admins
//! read it, and deleting a credential forgets its users.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use common::{backends, Env, ORG};
use embedgate_admin::store::embed_users;
use embedgate_core::usage::EmbedUse;
use embedgate_core::{AccountType, Region};
use serde_json::Value;

fn report(region: Region, rows: &[(&str, &str, i64, u64)]) -> BTreeMap<Region, Vec<EmbedUse>> {
    let users = rows
        .iter()
        .map(|(cid, sub, seen, loads)| EmbedUse {
            loads: *loads,
            ..EmbedUse::new(cid, sub, Some(AccountType::Viewer), &[format!("t{seen}")], *seen)
        })
        .collect();
    BTreeMap::from([(region, users)])
}

async fn list(env: &Env, query: &str) -> (StatusCode, Value) {
    env.call("GET", &format!("/api/v1/orgs/{ORG}/embed-users{query}"), Some(&env.admin_token), None).await
}

/// Each edge's push task records its own acks: reports of several edges at
/// once queue for the write lock. On SQLite a transaction that read before
/// writing used to fail with `database is locked` (and its users were lost):
/// seen in a full e2e run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_many_edges_at_once_are_all_recorded() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let a = env.create_credential("a").await["client_id"].as_str().unwrap().to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (store, a) = (env.db().clone(), a.clone());
            tasks.spawn(async move {
                let users = report(Region::ALL[0], &[(&a, "cat@x.com", 300 + i, 1), (&a, "dan@x.com", 300 + i, 2)]);
                embed_users::record(&store, &format!("http://edge{i}"), &users).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        }
        let (s, page) = list(&env, "").await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let loads: Vec<_> = page["users"].as_array().unwrap().iter().map(|u| u["loads"].as_i64()).collect();
        assert_eq!(loads, [Some(8), Some(16)], "{page}");
    }
}

#[tokio::test]
async fn reports_add_up_once_page_filter_and_go_with_their_credential() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let a = env.create_credential("a").await["client_id"].as_str().unwrap().to_owned();
        let b = env.create_credential("b").await["client_id"].as_str().unwrap().to_owned();
        let pool = env.db();
        let [r1, r2] = [Region::ALL[0], Region::ALL[1]];
        // Edge one, region one: running totals; the same report read twice adds nothing.
        let first = report(r1, &[(&a, "ann@x.com", 100, 2), (&a, "bob@x.com", 110, 1), (&b, "ann@x.com", 120, 1)]);
        embed_users::record(pool, "http://e1", &first).await.unwrap();
        embed_users::record(pool, "http://e1", &first).await.unwrap();
        // Grown there; another region and another edge report the same identity.
        embed_users::record(pool, "http://e1", &report(r1, &[(&a, "ann@x.com", 150, 5)])).await.unwrap();
        embed_users::record(pool, "http://e1", &report(r2, &[(&a, "ann@x.com", 90, 1)])).await.unwrap();
        embed_users::record(pool, "http://e2", &report(r1, &[(&a, "ann@x.com", 140, 4)])).await.unwrap();
        // A region that lost its storage starts its totals again: all of it is new.
        embed_users::record(pool, "http://e2", &report(r1, &[(&a, "ann@x.com", 200, 1)])).await.unwrap();
        // An unknown credential's rows are ignored.
        embed_users::record(pool, "http://e2", &report(r1, &[("nope", "eve@x.com", 1, 1)])).await.unwrap();

        let (s, page) = list(&env, "").await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let users = page["users"].as_array().unwrap();
        assert_eq!(users.len(), 3);
        let ann_a = &users[0];
        assert_eq!((ann_a["email"].as_str(), ann_a["client_id"].as_str()), (Some("ann@x.com"), Some(a.as_str())));
        // 5 (e1/r1) + 1 (e1/r2) + 4 + 1 (e2/r1, reset): 11.
        assert_eq!(
            (ann_a["loads"].as_i64(), ann_a["first_seen"].as_i64(), ann_a["last_seen"].as_i64()),
            (Some(11), Some(90), Some(200))
        );
        assert_eq!((ann_a["account_type"].as_str(), ann_a["teams"][0].as_str()), (Some("viewer"), Some("t200")));
        assert_eq!(users[1]["last_seen"], 120);
        assert_eq!(page["next"], Value::Null);

        // Paging: one at a time, newest first, no repeats.
        let mut seen = vec![];
        let mut cursor = String::new();
        loop {
            let (s, page) = list(&env, &format!("?limit=1{cursor}")).await;
            assert_eq!(s, StatusCode::OK);
            seen.extend(page["users"].as_array().unwrap().iter().map(|u| u["last_seen"].as_i64().unwrap()));
            match page["next"].as_str() {
                Some(n) => cursor = format!("&cursor={n}"),
                None => break,
            }
        }
        assert_eq!(seen, vec![200, 120, 110]);

        // The filter by credential.
        let (_, page) = list(&env, &format!("?client_id={b}")).await;
        assert_eq!(page["users"].as_array().unwrap().len(), 1);

        // Bad parameters: 422 naming the field.
        for (query, field) in [
            ("?limit=0", "limit"),
            ("?limit=201", "limit"),
            ("?cursor=%21", "cursor"),
            ("?client_id=x%20y", "client_id"),
        ] {
            let (s, e) = list(&env, query).await;
            assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{query}: {e}");
        }
        // Admins only.
        let viewer = env.member_with_token("vera@acme.test", "viewer").await;
        let path = format!("/api/v1/orgs/{ORG}/embed-users");
        assert_eq!(env.call("GET", &path, Some(&viewer), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(env.call("GET", &path, None, None).await.0, StatusCode::UNAUTHORIZED);

        // Deleting (a revoked) credential forgets its users.
        let creds = format!("/api/v1/orgs/{ORG}/credentials/{b}");
        let t = Some(env.admin_token.as_str());
        assert_eq!(env.call("POST", &format!("{creds}/revoke"), t, None).await.0, StatusCode::OK);
        assert_eq!(env.call("DELETE", &creds, t, None).await.0, StatusCode::OK);
        let (_, page) = list(&env, "").await;
        assert!(page["users"].as_array().unwrap().iter().all(|u| u["client_id"] != b.as_str()));
        env.finish().await;
    }
}
