//! The admin HTTP API through `tower::ServiceExt::oneshot` against
//! `app(state)`, on a real SQLite file (and PostgreSQL when
//! `EMBEDGATE_TEST_POSTGRES_URL` is set): every status code, the seed flow,
//! rotation, audit, and that no secret reaches the database or the logs.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use common::{backends, Backend, Env, ADMIN, ORG};
use embedgate_admin::server::{TokenPolicy, TrustedProxies};
use embedgate_core::{
    find_embed_secrets, sign, AccountType, Claims, ClientId, CredentialRecord, EdgeKey, EmbedContext, EmbedSecret,
    KeyRing, KeySet, OrgSlug, Owner, Validation,
};
use serde_json::{json, Value};

fn creds() -> String {
    format!("/api/v1/orgs/{ORG}/credentials")
}

fn cred(id: &str, action: &str) -> String {
    if action.is_empty() {
        format!("/api/v1/orgs/{ORG}/credentials/{id}")
    } else {
        format!("/api/v1/orgs/{ORG}/credentials/{id}/{action}")
    }
}

#[tokio::test]
async fn healthz_and_unknown_routes() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (s, body) = env.call("GET", "/healthz", None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body["ok"], true);
        assert!(body["state_version"].as_i64().unwrap() >= 1);
        let (s, body) = env.call("GET", "/nope", None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");
        env.finish().await;
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_sqlite_uses_wal() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        env.db().migrate().await.unwrap();
        // Several replicas starting at once on one database.
        let fresh = match env.db().backend {
            embedgate_admin::store::Backend::Sqlite => {
                embedgate_admin::store::default_sqlite_url(&env.dir.path().join("fresh"))
            }
            embedgate_admin::store::Backend::Postgres => env.url.clone(),
        };
        let opened = futures_join3(&fresh).await;
        for db in opened {
            db.pool.close().await;
        }
        let again = embedgate_admin::store::open(&env.url).await.unwrap();
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM embedgate_migrations").fetch_one(&again.pool).await.unwrap();
        assert_eq!(n, 11, "every embedded migration, once");
        // The master key: the one that wraps the org keys passes (again and
        // again), another is refused with its id named.
        let keys = |k: &embedgate_core::MasterKey| embedgate_admin::store::keys::Keys::new(KeySet::single(k.clone()));
        embedgate_admin::store::keys::prepare(&again, &keys(&env.master)).await.unwrap();
        embedgate_admin::store::keys::prepare(&again, &keys(&env.master)).await.unwrap();
        let other = embedgate_core::MasterKey::generate().unwrap();
        assert!(matches!(
            embedgate_admin::store::keys::prepare(&again, &keys(&other)).await,
            Err(embedgate_admin::store::StoreError::MasterKeyMissing { orgs: 1, .. })
        ));
        if again.backend == embedgate_admin::store::Backend::Sqlite {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&again.pool).await.unwrap();
            assert_eq!(mode, "wal");
        }
        again.pool.close().await;
        env.finish().await;
    }
}

async fn futures_join3(url: &str) -> Vec<embedgate_admin::store::Store> {
    let open = || embedgate_admin::store::open(url);
    let (a, b, c) = tokio::join!(open(), open(), open());
    vec![a.unwrap(), b.unwrap(), c.unwrap()]
}

/// The seed's flow: members, create with privileges/name/description/owner,
/// the secret once, client IDs any time, revoke.
#[tokio::test]
async fn seed_flow() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let (s, m) = env
            .call(
                "POST",
                &format!("/api/v1/orgs/{ORG}/members"),
                t,
                Some(&json!({"email": "Ana@Acme.test", "account_type": "creator"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        assert_eq!(m["email"], "ana@acme.test");
        let (s, list) = env.call("GET", &format!("/api/v1/orgs/{ORG}/members"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        let emails: Vec<&str> =
            list["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
        assert_eq!(emails, [ADMIN, "ana@acme.test"]);

        let body = json!({
            "name": "  Customer portal ",
            "description": "embeds for the portal",
            "owner": "ana@acme.test",
            "privileges": ["embedding", "api"],
            "allowed_origins": ["https://portal.example.com", "http://localhost:3000"],
            "max_token_lifetime_s": 3600,
        });
        let (s, created) = env.call("POST", &creds(), t, Some(&body)).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["name"], "Customer portal");
        assert_eq!(created["description"], "embeds for the portal");
        assert_eq!(created["owner"], "ana@acme.test");
        assert_eq!(created["owner_account_type"], "creator");
        assert_eq!(created["privileges"], json!(["embedding", "api"]));
        assert_eq!(created["max_token_lifetime_s"], 3600);
        assert_eq!(created["created_by"], ADMIN);
        let id = created["client_id"].as_str().unwrap().to_owned();
        let client_id: ClientId = id.parse().unwrap();
        let secret = created["secret"].as_str().unwrap();
        assert!(embedgate_core::looks_like_embed_secret(secret));
        // Derived from the org's own key, with the org, client ID and generation bound in.
        let org: OrgSlug = ORG.parse().unwrap();
        let mut conn = env.db().pool.acquire().await.unwrap();
        let org_key = env.keys().org_key(&mut conn, &org, 1).await.unwrap();
        drop(conn);
        assert_eq!(org_key.derive_embed_secret(&org, &client_id, 1).expose_secret(), secret);

        // The client ID is visible any time; the secret never again.
        let (s, list) = env.call("GET", &creds(), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["credentials"][0]["client_id"], id.as_str());
        let (s, got) = env.call("GET", &cred(&id, ""), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(got["status"], "active");
        for shown in [&list, &got] {
            let text = shown.to_string();
            assert!(!text.contains(secret) && find_embed_secrets(&text).is_empty() && shown.get("secret").is_none());
        }

        let (s, revoked) = env.call("POST", &cred(&id, "revoke"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(revoked["status"], "revoked");
        assert_eq!(revoked["revoked_by"], ADMIN);
        assert!(revoked["revoked_at"].is_i64());
        let (s, again) = env.call("POST", &cred(&id, "revoke"), t, None).await;
        assert_eq!((s, again["error"].as_str()), (StatusCode::CONFLICT, Some("already_revoked")));
        let (s, e) = env.call("POST", &cred(&id, "rotate"), t, None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("credential_revoked")));
        env.finish().await;
    }
}

/// Whether a token signed with `secret` verifies against what an edge
/// would be sent for the credential `view` shows (its live secrets wrapped
/// under an edge key, unwrapped as the edge does).
async fn accepted(env: &Env, view: &Value, secret: &str) -> bool {
    let edge = EdgeKey::generate().unwrap();
    let sealer = embedgate_admin::store::export::ForEdge { keys: env.keys(), edge: &edge };
    let (records, _) = embedgate_admin::store::export::org_records(env.db(), &sealer, ORG).await.unwrap();
    let id = view["client_id"].as_str().unwrap();
    let sent = records.into_iter().find(|r| r.client_id.as_str() == id).unwrap();
    let org: OrgSlug = ORG.parse().unwrap();
    let owner = Owner { email: view["owner"].as_str().unwrap().into(), account_type: AccountType::Admin };
    let mut record = CredentialRecord::new(sent.client_id.clone(), org.clone(), owner);
    record.generations = sent.secrets.iter().map(|s| s.generation).collect();
    let wanted: Vec<u32> = view["live_generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| u32::try_from(g.as_i64().unwrap()).unwrap())
        .collect();
    assert_eq!(record.generations, wanted, "the edges get exactly the live generations");
    let (keys, failure) = KeyRing::unwrap(&KeySet::single(edge), &org, &sent.client_id, &sent.secrets);
    assert!(failure.is_none());
    let now = 1_800_000_000;
    let token =
        sign(&Claims::new("ana@acme.test", now, 600).unwrap(), &record.client_id, &EmbedSecret::new(secret.into()))
            .unwrap();
    Validation::default()
        .verify(&token, now, &EmbedContext::default(), |kid| {
            (kid == record.client_id.as_str()).then_some((&record, &keys))
        })
        .is_ok()
}

#[tokio::test]
async fn rotation_keeps_two_live_secrets_until_retired() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let created = env.create_credential("rotating").await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        let first = created["secret"].as_str().unwrap().to_owned();

        let (s, e) = env.call("POST", &cred(&id, "retire-previous"), t, None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("no_previous")));

        let (s, rotated) = env.call("POST", &cred(&id, "rotate"), t, None).await;
        assert_eq!(s, StatusCode::OK, "{rotated}");
        let second = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert_eq!(rotated["generation"], 2);
        assert_eq!(rotated["live_generations"], json!([2, 1]));
        let (_, view) = env.call("GET", &cred(&id, ""), t, None).await;
        assert!(view.get("secret").is_none());
        assert!(accepted(&env, &view, &first).await && accepted(&env, &view, &second).await);

        let (s, e) = env.call("POST", &cred(&id, "rotate"), t, None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("retire_first")));

        let (s, retired) = env.call("POST", &cred(&id, "retire-previous"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(retired["live_generations"], json!([2]));
        assert!(retired.get("secret").is_none());
        let (_, view) = env.call("GET", &cred(&id, ""), t, None).await;
        assert!(!accepted(&env, &view, &first).await);
        assert!(accepted(&env, &view, &second).await);

        let (s, third) = env.call("POST", &cred(&id, "rotate"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(third["live_generations"], json!([3, 2]));
        env.finish().await;
    }
}

#[tokio::test]
async fn unauthorized_forbidden_and_not_found() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let body = json!({"name": "x", "owner": ADMIN, "privileges": ["embedding"]});

        // 401: absent, malformed, unknown, revoked.
        for token in [None, Some("nope"), Some("egt_0000000000000000000000000000000000000000000000000000000000000000")]
        {
            let (s, e) = env.call("POST", &creds(), token, Some(&body)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
        }
        let viewer = env.member_with_token("vic@acme.test", "viewer").await;
        let token_id: String = sqlx::query_scalar("SELECT id FROM member_tokens WHERE email = $1")
            .bind("vic@acme.test")
            .fetch_one(&env.db().pool)
            .await
            .unwrap();
        let revoke = format!("/api/v1/orgs/{ORG}/members/vic@acme.test/tokens/{token_id}/revoke");
        assert_eq!(env.call("POST", &revoke, t, None).await.0, StatusCode::OK);
        let (s, _) = env.call("GET", &creds(), Some(&viewer), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // 403: a non-admin member of the org writing or reading the audit log.
        let creator = env.member_with_token("cat@acme.test", "creator").await;
        for (method, path, b) in [
            ("POST", creds(), Some(&body)),
            (
                "POST",
                format!("/api/v1/orgs/{ORG}/members"),
                Some(&json!({"email": "z@acme.test", "account_type": "admin"})),
            ),
            ("GET", format!("/api/v1/orgs/{ORG}/audit"), None),
        ] {
            let (s, e) = env.call(method, &path, Some(&creator), b).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{method} {path}");
        }

        // 404: another org (its existence is not revealed), unknown or malformed client ID, unknown member.
        embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test").await.unwrap().unwrap();
        for path in ["/api/v1/orgs/globex/credentials", "/api/v1/orgs/no-such-org/credentials"] {
            let (s, e) = env.call("GET", path, t, None).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
        }
        for id in ["0123456789abcdef0123456789abcdef", "../etc", "ZZZ"] {
            for action in ["", "revoke", "rotate", "retire-previous"] {
                let method = if action.is_empty() { "GET" } else { "POST" };
                let (s, _) = env.call(method, &cred(id, action), t, None).await;
                assert_eq!(s, StatusCode::NOT_FOUND, "{id} {action}");
            }
        }
        let (s, _) =
            env.call("POST", &format!("/api/v1/orgs/{ORG}/members/ghost@acme.test/invitations"), t, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        for path in [format!("/api/v1/orgs/{ORG}/credentials/%FF%FE"), "/api/v1/orgs/%C3%28/credentials".to_owned()] {
            let (s, e) = env.call("GET", &path, t, None).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
        }
        env.finish().await;
    }
}

/// Any active member may list and view credentials and list members (the
/// Developer Access console shows non-admins the list read-only, never a
/// secret); every write and the audit log stay admin-only.
#[tokio::test]
async fn non_admins_read_but_never_write() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let created = env.create_credential("shown").await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        let members = format!("/api/v1/orgs/{ORG}/members");
        env.member_with_token("spare@acme.test", "viewer").await;
        let token_id: String = sqlx::query_scalar("SELECT id FROM member_tokens WHERE email = $1")
            .bind("spare@acme.test")
            .fetch_one(&env.db().pool)
            .await
            .unwrap();
        for account_type in ["creator", "explorer", "viewer"] {
            let email = format!("{account_type}@acme.test");
            let token = env.member_with_token(&email, account_type).await;
            let r = Some(token.as_str());

            let (s, list) = env.call("GET", &creds(), r, None).await;
            assert_eq!(s, StatusCode::OK, "{account_type}: {list}");
            assert_eq!(list["credentials"][0]["client_id"], id.as_str());
            let (s, got) = env.call("GET", &cred(&id, ""), r, None).await;
            assert_eq!((s, got["name"].as_str()), (StatusCode::OK, Some("shown")), "{account_type}");
            let (s, listed) = env.call("GET", &members, r, None).await;
            assert_eq!(s, StatusCode::OK, "{account_type}");
            assert!(listed["members"].as_array().unwrap().iter().any(|m| m["email"] == email.as_str()));
            for shown in [&list, &got, &listed] {
                let text = shown.to_string();
                assert!(!text.contains(&secret) && find_embed_secrets(&text).is_empty());
            }
            let (s, _) = env.call("GET", &cred("0123456789abcdef0123456789abcdef", ""), r, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND);

            let version = env.db().state_version().await.unwrap();
            let writes = [
                ("POST", creds(), Some(json!({"name": "mine", "owner": email, "privileges": ["embedding"]}))),
                ("POST", cred(&id, "revoke"), None),
                ("POST", cred(&id, "rotate"), None),
                ("POST", cred(&id, "retire-previous"), None),
                ("POST", members.clone(), Some(json!({"email": "new@acme.test", "account_type": "viewer"}))),
                ("POST", format!("{members}/spare@acme.test/invitations"), None),
                ("GET", format!("{members}/spare@acme.test/tokens"), None),
                ("POST", format!("{members}/spare@acme.test/tokens/{token_id}/revoke"), None),
                ("POST", format!("{members}/spare@acme.test/deactivate"), None),
                ("PATCH", format!("{members}/spare@acme.test"), Some(json!({"account_type": "admin"}))),
                ("PATCH", cred(&id, ""), Some(json!({"name": "renamed"}))),
                ("PATCH", cred(&id, ""), Some(json!({"not_before_cutoff": 0}))),
                ("GET", format!("/api/v1/orgs/{ORG}/audit"), None),
            ];
            for (method, path, body) in &writes {
                let (s, e) = env.call(method, path, r, body.as_ref()).await;
                assert_eq!(
                    (s, e["error"].as_str()),
                    (StatusCode::FORBIDDEN, Some("forbidden")),
                    "{account_type}: {method} {path}"
                );
            }
            let (s, e) = env.call("POST", &format!("{members}/spare@acme.test/tokens"), r, None).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("own_tokens_only")), "{account_type}");
            assert_eq!(env.db().state_version().await.unwrap(), version, "{account_type}: nothing changed");
        }
        let (_, got) = env.call("GET", &cred(&id, ""), Some(&env.admin_token), None).await;
        assert_eq!((got["status"].as_str(), &got["live_generations"]), (Some("active"), &json!([1])));

        // Another org's member gets 404 on the reads too: the org is not revealed.
        let other = embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test")
            .await
            .unwrap()
            .unwrap();
        for path in [creds(), cred(&id, ""), members.clone()] {
            let (s, e) = env.call("GET", &path, Some(&other), None).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
        }
        env.finish().await;
    }
}

fn member(email: &str) -> String {
    format!("/api/v1/orgs/{ORG}/members/{email}")
}

/// The newest audit entry (as the admin sees it).
async fn last_audit(env: &Env) -> Value {
    let (s, page) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit?limit=1"), Some(&env.admin_token), None).await;
    assert_eq!(s, StatusCode::OK);
    page["items"][0].clone()
}

/// `PATCH …/members/{email}`: every status code; a change is audited and
/// bumps the state version (the edges carry owners' types), a no-op is not.
#[tokio::test]
async fn update_member_account_type() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let bob = env.member_with_token("bob@acme.test", "viewer").await;
        let body = json!({"name": "bobs", "owner": "bob@acme.test", "privileges": ["embedding"]});
        let (s, created) = env.call("POST", &creds(), t, Some(&body)).await;
        assert_eq!((s, created["owner_account_type"].as_str()), (StatusCode::CREATED, Some("viewer")));
        let id = created["client_id"].as_str().unwrap().to_owned();

        // 200: the change, its audit entry and the version bump; bob may now write.
        let version = env.db().state_version().await.unwrap();
        let (s, m) = env.call("PATCH", &member("Bob@Acme.test"), t, Some(&json!({"account_type": "admin"}))).await;
        assert_eq!(s, StatusCode::OK, "{m}");
        assert_eq!(
            m,
            json!({"email": "bob@acme.test", "account_type": "admin", "status": "active", "created_at": m["created_at"]})
        );
        assert_eq!(env.db().state_version().await.unwrap(), version + 1);
        let entry = last_audit(&env).await;
        assert_eq!(
            (entry["action"].as_str(), entry["target"].as_str()),
            (Some("member.update"), Some("bob@acme.test"))
        );
        assert_eq!(entry["actor"], ADMIN);
        assert_eq!(entry["detail"], json!({"account_type": {"from": "viewer", "to": "admin"}}));
        let (_, got) = env.call("GET", &cred(&id, ""), t, None).await;
        assert_eq!(got["owner_account_type"], "admin");
        assert_eq!(env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), Some(&bob), None).await.0, StatusCode::OK);

        // 200 without audit or bump: the same type again.
        let (s, m) = env.call("PATCH", &member("bob@acme.test"), t, Some(&json!({"account_type": "admin"}))).await;
        assert_eq!((s, m["account_type"].as_str()), (StatusCode::OK, Some("admin")));
        assert_eq!(env.db().state_version().await.unwrap(), version + 1);
        assert_eq!(last_audit(&env).await["id"], entry["id"]);

        // 422 naming the field; 400 for a body that is not JSON.
        for (bad, field) in [
            (json!({}), "account_type"),
            (json!({"account_type": "root"}), "account_type"),
            (json!({"account_type": "Admin "}), "account_type"),
            (json!({"account_type": null}), "account_type"),
            (json!({"account_type": 1}), "account_type"),
            (json!({"account_type": "viewer", "status": "deactivated"}), "body"),
            (json!({"email": "x@acme.test"}), "body"),
            (json!(["viewer"]), "body"),
        ] {
            let (s, e) = env.call("PATCH", &member("bob@acme.test"), t, Some(&bad)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input")), "{bad}");
            assert_eq!(e["field"], field, "{bad}");
        }
        let (s, e) = env.call_raw("PATCH", &member("bob@acme.test"), t, Some(("{", "application/json")), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));

        // 404: unknown or malformed member, another org.
        let viewer = json!({"account_type": "viewer"});
        for path in [member("ghost@acme.test"), member("not-an-email"), member("a%00b@acme.test")] {
            let (s, e) = env.call("PATCH", &path, t, Some(&viewer)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
        }
        embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test").await.unwrap().unwrap();
        let (s, _) = env.call("PATCH", "/api/v1/orgs/globex/members/boss@globex.test", t, Some(&viewer)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // 401 without a token; 403 for a non-admin (bob, once demoted).
        let (s, _) = env.call("PATCH", &member("bob@acme.test"), None, Some(&viewer)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, m) =
            env.call("PATCH", &member("bob@acme.test"), Some(&bob), Some(&json!({"account_type": "creator"}))).await;
        assert_eq!((s, m["account_type"].as_str()), (StatusCode::OK, Some("creator")), "an admin may demote themself");
        let (s, e) = env.call("PATCH", &member(ADMIN), Some(&bob), Some(&viewer)).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

        // 409: the org's last active admin stays an admin, and nothing is recorded.
        let version = env.db().state_version().await.unwrap();
        let top = last_audit(&env).await["id"].clone();
        let (s, e) = env.call("PATCH", &member(ADMIN), t, Some(&viewer)).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("last_admin")));
        assert_eq!(env.db().state_version().await.unwrap(), version);
        assert_eq!(last_audit(&env).await["id"], top);
        assert_eq!(env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), t, None).await.0, StatusCode::OK);
        // A deactivated admin does not count.
        env.member_with_token("old@acme.test", "admin").await;
        assert_eq!(
            env.call("POST", &format!("{}/deactivate", member("old@acme.test")), t, None).await.0,
            StatusCode::OK
        );
        let (s, e) = env.call("PATCH", &member(ADMIN), t, Some(&viewer)).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("last_admin")));
        env.finish().await;
    }
}

/// Two admins demoting each other at once: exactly one wins and one admin
/// stays (on PostgreSQL too, where the writers are not serialised by a gate).
/// The loser gets 409 `last_admin`, or 403 when its own demotion had already
/// committed before it was authenticated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_demotions_keep_an_admin() {
    for backend in backends() {
        let env = Arc::new(Env::new(&backend).await);
        for round in 0..5 {
            let other = format!("second-{round}@acme.test");
            let second = env.member_with_token(&other, "admin").await;
            let tasks: Vec<_> = [(env.admin_token.clone(), other.clone()), (second, ADMIN.to_owned())]
                .into_iter()
                .map(|(token, target)| {
                    let env = Arc::clone(&env);
                    tokio::spawn(async move {
                        env.call("PATCH", &member(&target), Some(&token), Some(&json!({"account_type": "viewer"})))
                            .await
                            .0
                    })
                })
                .collect();
            let mut statuses = Vec::new();
            for task in tasks {
                statuses.push(task.await.unwrap());
            }
            statuses.sort();
            assert_eq!(statuses[0], StatusCode::OK, "round {round}: {statuses:?}");
            assert!(matches!(statuses[1], StatusCode::FORBIDDEN | StatusCode::CONFLICT), "round {round}: {statuses:?}");
            let admins: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM members WHERE org = $1 AND account_type = 'admin' AND status = 'active'",
            )
            .bind(ORG)
            .fetch_one(&env.db().pool)
            .await
            .unwrap();
            assert_eq!(admins, 1, "round {round}");
            // The next round starts again from one admin: the original one.
            sqlx::query(
                "UPDATE members SET account_type = CASE WHEN email = $2 THEN 'admin' ELSE 'viewer' END WHERE org = $1",
            )
            .bind(ORG)
            .bind(ADMIN)
            .execute(&env.db().pool)
            .await
            .unwrap();
        }
        Arc::into_inner(env).unwrap().finish().await;
    }
}

/// `PATCH …/credentials/{client_id}`: every status code, the create path's
/// validation, null clearing, and that a change (only) is audited by field
/// name and bumps the version.
#[tokio::test]
async fn update_credential_fields() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let created = env.create_credential("before").await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        let path = cred(&id, "");

        // 200: every field at once; the answer is what GET shows, with no secret.
        let version = env.db().state_version().await.unwrap();
        let now = embedgate_admin::server::now();
        let all = json!({
            "name": "  after ",
            "description": "d",
            "privileges": ["api", "embedding", "api"],
            "allowed_origins": ["https://B.example/", "https://a.example"],
            "max_token_lifetime_s": 600,
            "not_before_cutoff": now,
        });
        let (s, updated) = env.call("PATCH", &path, t, Some(&all)).await;
        assert_eq!(s, StatusCode::OK, "{updated}");
        assert_eq!(updated["name"], "after");
        assert_eq!(updated["description"], "d");
        assert_eq!(updated["privileges"], json!(["embedding", "api"]));
        assert_eq!(updated["allowed_origins"], json!(["https://a.example", "https://b.example"]));
        assert_eq!(
            (updated["max_token_lifetime_s"].as_i64(), updated["not_before_cutoff"].as_i64()),
            (Some(600), Some(now))
        );
        assert_eq!(updated["live_generations"], json!([1]));
        let (_, got) = env.call("GET", &path, t, None).await;
        assert_eq!(updated, got);
        assert!(updated.get("secret").is_none() && find_embed_secrets(&updated.to_string()).is_empty());
        assert_eq!(env.db().state_version().await.unwrap(), version + 1);
        let entry = last_audit(&env).await;
        assert_eq!(
            (entry["action"].as_str(), entry["target"].as_str()),
            (Some("credential.update"), Some(id.as_str()))
        );
        assert_eq!(
            entry["detail"],
            json!({"fields": ["name", "description", "privileges", "allowed_origins", "max_token_lifetime_s", "not_before_cutoff"]})
        );
        assert!(!entry.to_string().contains(&secret));

        // null clears the optional ones; only what really changed is recorded.
        let clear = json!({"name": "after", "description": null, "allowed_origins": null,
            "max_token_lifetime_s": null, "not_before_cutoff": null});
        let (s, cleared) = env.call("PATCH", &path, t, Some(&clear)).await;
        assert_eq!(s, StatusCode::OK, "{cleared}");
        assert!(cleared["description"].is_null() && cleared["max_token_lifetime_s"].is_null());
        assert!(cleared["not_before_cutoff"].is_null());
        assert_eq!(cleared["allowed_origins"], json!([]));
        let entry = last_audit(&env).await;
        assert_eq!(
            entry["detail"],
            json!({"fields": ["description", "allowed_origins", "max_token_lifetime_s", "not_before_cutoff"]})
        );
        assert_eq!(env.db().state_version().await.unwrap(), version + 2);

        // 200 without audit or bump: nothing changes.
        let (s, same) =
            env.call("PATCH", &path, t, Some(&json!({"name": " after", "privileges": ["api", "embedding"]}))).await;
        assert_eq!((s, &same), (StatusCode::OK, &cleared));
        assert_eq!(env.db().state_version().await.unwrap(), version + 2);
        assert_eq!(last_audit(&env).await["id"], entry["id"]);

        // The cutoff: 0 up to one day ahead of the server's clock.
        for ok in [0, now + 86_400] {
            let (s, c) = env.call("PATCH", &path, t, Some(&json!({"not_before_cutoff": ok}))).await;
            assert_eq!((s, c["not_before_cutoff"].as_i64()), (StatusCode::OK, Some(ok)));
        }

        env.finish().await;
    }
}

/// A fresh environment with one credential, named `after`: (env, its client ID, its path).
async fn updatable(backend: &common::Backend) -> (Env, String, String) {
    let env = Env::new(backend).await;
    let created = env.create_credential("after").await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    let path = cred(&id, "");
    (env, id, path)
}

/// `PATCH …/credentials/{client_id}` with bad input: 422 naming the field
/// (as on create), 400 and 413, and nothing changes.
#[tokio::test]
async fn update_credential_bad_input() {
    for backend in backends() {
        let (env, _, path) = updatable(&backend).await;
        let t = Some(env.admin_token.as_str());
        let now = embedgate_admin::server::now();
        // 422 naming the field, and nothing changed.
        let version = env.db().state_version().await.unwrap();
        let many: Vec<String> = (0..51).map(|i| format!("https://o{i}.example")).collect();
        let cases = [
            (json!({}), "body"),
            (json!({"owner": ADMIN}), "body"),
            (json!({"name": "x", "secret": "y"}), "body"),
            (json!({"client_id": "x"}), "body"),
            (json!([1]), "body"),
            (json!({"name": null}), "name"),
            (json!({"name": "   "}), "name"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"name": "a\u{7}b"}), "name"),
            (json!({"name": "portal\u{202E}lanimret"}), "name"),
            (json!({"name": "a\u{2066}b"}), "name"),
            (json!({"description": "see \u{202D}x"}), "description"),
            (json!({"name": 42}), "name"),
            (json!({"description": "d".repeat(1001)}), "description"),
            (json!({"description": ["x"]}), "description"),
            (json!({"privileges": null}), "privileges"),
            (json!({"privileges": []}), "privileges"),
            (json!({"privileges": ["root"]}), "privileges"),
            (json!({"privileges": "api"}), "privileges"),
            (json!({"allowed_origins": ["https://a.example/path"]}), "allowed_origins"),
            (json!({"allowed_origins": "https://a.example"}), "allowed_origins"),
            (json!({"allowed_origins": many}), "allowed_origins"),
            (json!({"max_token_lifetime_s": 0}), "max_token_lifetime_s"),
            (json!({"max_token_lifetime_s": 2_592_001}), "max_token_lifetime_s"),
            (json!({"max_token_lifetime_s": "60"}), "max_token_lifetime_s"),
            (json!({"not_before_cutoff": -1}), "not_before_cutoff"),
            (json!({"not_before_cutoff": now + 86_400 + 3_600}), "not_before_cutoff"),
            (json!({"not_before_cutoff": 1.5}), "not_before_cutoff"),
            (json!({"not_before_cutoff": "1"}), "not_before_cutoff"),
            (json!({"name": "fine", "not_before_cutoff": -1}), "not_before_cutoff"),
        ];
        for (body, field) in cases {
            let (s, e) = env.call("PATCH", &path, t, Some(&body)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input")), "{body}");
            assert_eq!(e["field"], field, "{body}");
        }
        assert_eq!(env.db().state_version().await.unwrap(), version);
        assert_eq!(env.call("GET", &path, t, None).await.1["name"], "after");

        // 400 and 413.
        let (s, e) = env.call_raw("PATCH", &path, t, Some(("{\"name\":", "application/json")), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
        let (s, _) = env.call_raw("PATCH", &path, t, Some(("{\"name\":\"x\"}", "text/plain")), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let huge = format!("{{\"description\": \"{}\"}}", "x".repeat(3 << 20));
        let (s, e) = env.call_raw("PATCH", &path, t, Some((&huge, "application/json")), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));

        env.finish().await;
    }
}

/// `PATCH …/credentials/{client_id}`: 409, 404 and 401.
#[tokio::test]
async fn update_credential_conflicts_and_not_found() {
    for backend in backends() {
        let (env, id, path) = updatable(&backend).await;
        let t = Some(env.admin_token.as_str());
        // 409 name_taken: another credential's name, live or revoked.
        let other = env.create_credential("other").await;
        let (s, e) = env.call("PATCH", &path, t, Some(&json!({"name": " other "}))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("name_taken")));
        let other_id = other["client_id"].as_str().unwrap();
        assert_eq!(env.call("POST", &cred(other_id, "revoke"), t, None).await.0, StatusCode::OK);
        let (s, e) = env.call("PATCH", &path, t, Some(&json!({"name": "other"}))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("name_taken")));
        // 409 credential_revoked, even for a body that would change nothing.
        for body in [json!({"name": "renamed"}), json!({"name": "other"})] {
            let (s, e) = env.call("PATCH", &cred(other_id, ""), t, Some(&body)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("credential_revoked")), "{body}");
        }
        assert_eq!(env.call("GET", &path, t, None).await.1["name"], "after");

        // 404: unknown or malformed client ID, another org; 401 without a token.
        let rename = json!({"name": "n"});
        for bad in ["0123456789abcdef0123456789abcdef", "ZZZ", "a%00b"] {
            let (s, e) = env.call("PATCH", &cred(bad, ""), t, Some(&rename)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{bad}");
        }
        embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test").await.unwrap().unwrap();
        let (s, _) = env.call("PATCH", &format!("/api/v1/orgs/globex/credentials/{id}"), t, Some(&rename)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, e) = env.call("PATCH", &path, None, Some(&rename)).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
        env.finish().await;
    }
}

#[tokio::test]
async fn bad_input_is_422_and_bad_json_is_400() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let ok = json!({"name": "n", "owner": ADMIN, "privileges": ["embedding"]});
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = ok.clone();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        let cases = [
            (without("name"), "name"),
            (with("name", json!("   ")), "name"),
            (with("name", json!("x".repeat(101))), "name"),
            (with("name", json!(42)), "name"),
            (with("description", json!("d".repeat(1001))), "description"),
            (without("owner"), "owner"),
            (with("owner", json!("not-an-email")), "owner"),
            (with("owner", json!("stranger@acme.test")), "owner"),
            (without("privileges"), "privileges"),
            (with("privileges", json!([])), "privileges"),
            (with("privileges", json!(["root"])), "privileges"),
            (with("privileges", json!("embedding")), "privileges"),
            (with("allowed_origins", json!(["https://a.example/path"])), "allowed_origins"),
            (with("allowed_origins", json!(["ftp://a.example"])), "allowed_origins"),
            (with("allowed_origins", json!(["https://"])), "allowed_origins"),
            (with("allowed_origins", json!("https://a.example")), "allowed_origins"),
            (with("allowed_origins", json!(["https://a.example:0"])), "allowed_origins"),
            (with("allowed_origins", json!(["https://a.example:99999"])), "allowed_origins"),
            (with("allowed_origins", json!(["https://user@a.example"])), "allowed_origins"),
            (with("allowed_origins", json!(["https://a.example?x=1"])), "allowed_origins"),
            (with("allowed_origins", json!(["https://a.example#f"])), "allowed_origins"),
            (with("allowed_origins", json!(["https://[]"])), "allowed_origins"),
            (with("allowed_origins", json!([7])), "allowed_origins"),
            (with("description", json!(["x"])), "description"),
            (with("max_token_lifetime_s", json!(0)), "max_token_lifetime_s"),
            (with("max_token_lifetime_s", json!(2_592_001)), "max_token_lifetime_s"),
            (with("max_token_lifetime_s", json!("60")), "max_token_lifetime_s"),
            (with("not_before_cutoff", json!(-1)), "not_before_cutoff"),
            (with("not_before_cutoff", json!(embedgate_admin::server::now() + 90_000)), "not_before_cutoff"),
            (json!([1, 2]), "body"),
        ];
        for (body, field) in cases {
            let (s, e) = env.call("POST", &creds(), t, Some(&body)).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(e["error"], "invalid_input");
            assert_eq!(e["field"], field, "{body}");
            assert!(e["message"].is_string());
        }
        // Boundaries that are fine.
        let edge = json!({"name": "x".repeat(100), "description": "d".repeat(1000), "owner": " ADMIN@acme.test ",
            "privileges": ["api", "api"], "allowed_origins": ["https://A.example:8443/", "http://[::1]:3000", "http://[::1]", "https://a.example:8443"], "max_token_lifetime_s": 2_592_000});
        let (s, c) = env.call("POST", &creds(), t, Some(&edge)).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        assert_eq!(c["privileges"], json!(["api"]));
        assert_eq!(c["allowed_origins"], json!(["http://[::1]", "http://[::1]:3000", "https://a.example:8443"]));
        assert_eq!(c["owner"], ADMIN);

        let (s, e) = env
            .call(
                "POST",
                &format!("/api/v1/orgs/{ORG}/members"),
                t,
                Some(&json!({"email": "a@acme.test", "account_type": "root"})),
            )
            .await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("account_type")));
        let (s, e) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit?limit=0"), t, None).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));

        // 400: not JSON, or not declared as JSON.
        for (raw, ct) in [
            ("{\"name\":", "application/json"),
            ("not json", "application/json"),
            (&*ok.to_string(), "text/plain"),
            ("", "application/json"),
        ] {
            let (s, e) = env.call_raw("POST", &creds(), t, Some((raw, ct)), None).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")), "{raw} {ct}");
        }
        let (s, e) = env.call_raw("POST", &creds(), t, None, None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
        let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20));
        let (s, e) = env.call_raw("POST", &creds(), t, Some((&huge, "application/json")), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
        env.finish().await;
    }
}

#[tokio::test]
async fn conflicts() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        env.create_credential("dup").await;
        let (s, e) = env
            .call("POST", &creds(), t, Some(&json!({"name": " dup ", "owner": ADMIN, "privileges": ["embedding"]})))
            .await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("name_taken")));
        let (s, e) = env
            .call(
                "POST",
                &format!("/api/v1/orgs/{ORG}/members"),
                t,
                Some(&json!({"email": ADMIN, "account_type": "viewer"})),
            )
            .await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("member_exists")));
        env.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_with_one_name_give_one_201() {
    for backend in backends() {
        let env = Arc::new(Env::new(&backend).await);
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let env = Arc::clone(&env);
                tokio::spawn(async move {
                    let body = json!({"name": "race", "owner": ADMIN, "privileges": ["embedding"]});
                    env.call("POST", &creds(), Some(&env.admin_token), Some(&body)).await.0
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
        Arc::into_inner(env).unwrap().finish().await;
    }
}

/// Issue 14, item 5: failures from an address put it in back-off, but a
/// valid token from that address is never refused (on the old code it got
/// 429 for the rest of the minute: behind a shared proxy, every admin).
#[tokio::test]
async fn failed_auth_backs_off_but_never_refuses_a_valid_token() {
    for backend in backends() {
        let env = Env::with_auth_limit(&backend, 3).await;
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:5000".parse().unwrap();
        let bad = Some("egt_bad");
        for _ in 0..3 {
            let (s, _) = env.call_raw("GET", &creds(), bad, None, Some(a)).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        // In back-off: a bad token, or none, is 429 with retry-after...
        for token in [bad, None, Some("egt_0000000000000000000000000000000000000000000000000000000000000000")] {
            let (s, headers, e) = env.call_with("GET", &creds(), token, None, Some(a), &[]).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")));
            let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=300).contains(&retry), "{retry}");
        }
        // ...and each further failure doubles it (it is not a fixed window).
        let (_, headers, _) = env.call_with("GET", &creds(), bad, None, Some(a), &[]).await;
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 8, "doubled with each failure: {retry}");
        // A valid token from the same address is served, reads and writes alike.
        for _ in 0..3 {
            let (s, _) = env.call_raw("GET", &creds(), Some(&env.admin_token), None, Some(a)).await;
            assert_eq!(s, StatusCode::OK);
        }
        let body = json!({"name": "made during back-off", "owner": ADMIN, "privileges": ["embedding"]}).to_string();
        let (s, _) =
            env.call_raw("POST", &creds(), Some(&env.admin_token), Some((&body, "application/json")), Some(a)).await;
        assert_eq!(s, StatusCode::CREATED);
        // Its successes do not reset the address: the attacker stays in back-off.
        let (s, _) = env.call_raw("GET", &creds(), bad, None, Some(a)).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        // Another address is unaffected.
        let (s, _) = env.call_raw("GET", &creds(), bad, None, Some(b)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Without ConnectInfo (oneshot) requests still work.
        let (s, _) = env.call("GET", &creds(), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        env.finish().await;
    }
}

/// Issue 14, item 5: behind a trusted proxy each client has its own
/// back-off (from X-Forwarded-For); from any other peer the header is
/// ignored, so a client cannot spoof its way out of its back-off or into
/// another's. On the old code every request through the proxy shared the
/// proxy's bucket.
#[tokio::test]
async fn trusted_proxies_name_the_client_and_spoofs_are_ignored() {
    let env = Env::with_state(&Backend::Sqlite, 2, |state| {
        state.trusted_proxies = Arc::new(TrustedProxies::parse("10.0.0.0/8").unwrap());
    })
    .await;
    let proxy: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let direct: SocketAddr = "198.51.100.1:40000".parse().unwrap();
    let bad = Some("egt_bad");
    let via = |client: &'static str| [("x-forwarded-for", client)];
    for _ in 0..2 {
        let (s, _, _) = env.call_with("GET", &creds(), bad, None, Some(proxy), &via("203.0.113.9")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _, _) = env.call_with("GET", &creds(), bad, None, Some(proxy), &via("203.0.113.9")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "the attacker behind the proxy is in back-off");
    // Another client of the same proxy is not; nor is one that forges a
    // left-hand entry (the proxy appends the real peer on the right).
    let (s, _, _) = env.call_with("GET", &creds(), bad, None, Some(proxy), &via("203.0.113.10")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = env.call_with("GET", &creds(), bad, None, Some(proxy), &via("203.0.113.9, 203.0.113.11")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The attacker's own valid token still works through the proxy.
    let (s, _, _) =
        env.call_with("GET", &creds(), Some(&env.admin_token), None, Some(proxy), &via("203.0.113.9")).await;
    assert_eq!(s, StatusCode::OK);
    // A peer that is not a trusted proxy cannot claim the attacker's address
    // (its header is ignored: its own bucket)...
    let (s, _, _) = env.call_with("GET", &creds(), bad, None, Some(direct), &via("203.0.113.9")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // ...nor escape its own back-off by naming another.
    for _ in 0..2 {
        env.call_with("GET", &creds(), bad, None, Some(direct), &via("203.0.113.77")).await;
    }
    let (s, _, _) = env.call_with("GET", &creds(), bad, None, Some(direct), &via("203.0.113.78")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    env.finish().await;
}

/// The PATCH endpoints and the member reads go through the same limiter:
/// bad tokens count (then 429 for bad tokens, never for a good one), a
/// non-admin's 403 and a member's reads do not.
#[tokio::test]
async fn new_endpoints_share_the_auth_limit() {
    for backend in backends() {
        let env = Env::with_auth_limit(&backend, 2).await;
        let id = env.create_credential("limited").await["client_id"].as_str().unwrap().to_owned();
        let viewer = env.member_with_token("vic@acme.test", "viewer").await;
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:5000".parse().unwrap();
        let rename = json!({"name": "n"}).to_string();
        let demote = json!({"account_type": "viewer"}).to_string();
        let json = "application/json";
        for (path, body) in [(cred(&id, ""), &rename), (member("vic@acme.test"), &demote)] {
            let (s, _) = env.call_raw("PATCH", &path, Some("egt_bad"), Some((body, json)), Some(a)).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        }
        for (path, body) in [(cred(&id, ""), &rename), (member("vic@acme.test"), &demote)] {
            let (s, e) = env.call_raw("PATCH", &path, Some("egt_bad"), Some((body, json)), Some(a)).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")), "{path}");
            let (s, _) = env.call_raw("PATCH", &path, Some(&env.admin_token), Some((body, json)), Some(a)).await;
            assert_eq!(s, StatusCode::OK, "{path}");
        }
        for _ in 0..3 {
            let (s, _) = env.call_raw("PATCH", &cred(&id, ""), Some(&viewer), Some((&rename, json)), Some(b)).await;
            assert_eq!(s, StatusCode::FORBIDDEN);
            let (s, _) = env.call_raw("GET", &cred(&id, ""), Some(&viewer), None, Some(b)).await;
            assert_eq!(s, StatusCode::OK);
        }
        // 413 for an oversized member PATCH too.
        let huge = format!("{{\"account_type\": \"{}\"}}", "x".repeat(3 << 20));
        let (s, _) =
            env.call_raw("PATCH", &member("vic@acme.test"), Some(&env.admin_token), Some((&huge, json)), None).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        env.finish().await;
    }
}

#[tokio::test]
async fn audit_records_every_change_with_paging() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        env.member_with_token("ana@acme.test", "creator").await;
        let c = env.create_credential("audited").await;
        let id = c["client_id"].as_str().unwrap();
        for action in ["rotate", "retire-previous", "revoke"] {
            let (s, _) = env.call("POST", &cred(id, action), t, None).await;
            assert_eq!(s, StatusCode::OK);
        }
        let audit = format!("/api/v1/orgs/{ORG}/audit");
        let (s, page) = env.call("GET", &audit, t, None).await;
        assert_eq!(s, StatusCode::OK);
        let actions: Vec<&str> =
            page["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
        assert_eq!(
            actions,
            [
                "credential.revoke",
                "credential.retire_previous",
                "credential.rotate",
                "credential.create",
                "member.invitation_redeem",
                "member.invite",
                "member.create",
                "org.create"
            ]
        );
        let first = &page["items"][0];
        assert_eq!((first["actor"].as_str(), first["target"].as_str()), (Some(ADMIN), Some(id)));
        assert!(first["at"].as_i64().unwrap() > 1_700_000_000);

        // Paging: 3 + 3 + 1, newest first, no overlap.
        let mut seen = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                Some(b) => format!("{audit}?limit=3&before={b}"),
                None => format!("{audit}?limit=3"),
            };
            let (s, page) = env.call("GET", &path, t, None).await;
            assert_eq!(s, StatusCode::OK);
            seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap().to_owned()));
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        assert_eq!(seen, actions);
        env.finish().await;
    }
}

/// No issued secret reaches the database files, the audit log or the logs.
#[tokio::test]
async fn no_secret_at_rest_or_in_logs() {
    let logs = common::captured_logs();
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let mut secrets = Vec::new();
        for i in 0..5 {
            let c = env.create_credential(&format!("leak-{i}")).await;
            let id = c["client_id"].as_str().unwrap().to_owned();
            secrets.push(c["secret"].as_str().unwrap().to_owned());
            let (_, r) = env.call("POST", &cred(&id, "rotate"), t, None).await;
            secrets.push(r["secret"].as_str().unwrap().to_owned());
            if i % 2 == 0 {
                env.call("POST", &cred(&id, "retire-previous"), t, None).await;
                env.call("POST", &cred(&id, "revoke"), t, None).await;
            }
            // Error paths too.
            env.call("POST", &cred(&id, "rotate"), t, None).await;
            env.call(
                "POST",
                &creds(),
                t,
                Some(&json!({"name": format!("leak-{i}"), "owner": ADMIN, "privileges": ["embedding"]})),
            )
            .await;
        }
        let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit?limit=500"), t, None).await;
        let (_, list) = env.call("GET", &creds(), t, None).await;
        let mut texts = vec![audit.to_string(), list.to_string()];
        if env.db().backend == embedgate_admin::store::Backend::Sqlite {
            let files = env.sqlite_files();
            assert!(files.iter().any(|f| f.ends_with("embedgate.db-wal")), "{files:?}");
            for file in files {
                let bytes = std::fs::read(&file).unwrap();
                for s in &secrets {
                    assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "{} holds a secret", file.display());
                }
                texts.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        } else {
            // PostgreSQL: every text column of every table, as the DB returns it.
            for table in ["credentials", "audit", "members", "member_tokens", "orgs"] {
                let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM {table} t"))
                    .fetch_all(&env.db().pool)
                    .await
                    .unwrap();
                texts.extend(rows);
            }
        }
        texts.push(String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned());
        assert!(texts.last().unwrap().contains("credential"), "logs were captured");
        for text in &texts {
            for s in &secrets {
                assert!(!text.contains(s.as_str()));
            }
            assert!(find_embed_secrets(text).is_empty(), "an embed secret in: {}", &text[..text.len().min(200)]);
        }
        env.finish().await;
    }
}

#[tokio::test]
async fn member_tokens_revoke_and_members_deactivate() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let members = format!("/api/v1/orgs/{ORG}/members");
        let bob = env.member_with_token("bob@acme.test", "admin").await;
        let (s, issued) = env.call("POST", &format!("{members}/bob@acme.test/tokens"), Some(&bob), None).await;
        assert_eq!(s, StatusCode::CREATED);
        let second = issued["token"].as_str().unwrap().to_owned();
        let id = issued["id"].as_str().unwrap();
        assert_eq!(env.call("GET", &creds(), Some(&second), None).await.0, StatusCode::OK);

        // Revoking a token ends it (and only it); revoking again is a no-op 200.
        let revoke = format!("{members}/bob@acme.test/tokens/{id}/revoke");
        let (s, revoked) = env.call("POST", &revoke, t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(revoked["revoked_at"].is_i64());
        assert_eq!(env.call("POST", &revoke, t, None).await.0, StatusCode::OK);
        assert_eq!(env.call("GET", &creds(), Some(&second), None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(env.call("GET", &creds(), Some(&bob), None).await.0, StatusCode::OK);
        let (s, _) = env.call("POST", &format!("{members}/bob@acme.test/tokens/nope/revoke"), t, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Deactivating a member ends all their tokens; they can no longer own credentials.
        let (s, m) = env.call("POST", &format!("{members}/Bob@acme.test/deactivate"), t, None).await;
        assert_eq!((s, m["status"].as_str()), (StatusCode::OK, Some("deactivated")));
        assert_eq!(env.call("GET", &creds(), Some(&bob), None).await.0, StatusCode::UNAUTHORIZED);
        let (s, e) = env
            .call(
                "POST",
                &creds(),
                t,
                Some(&json!({"name": "b", "owner": "bob@acme.test", "privileges": ["embedding"]})),
            )
            .await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("owner")));
        let (s, _) = env.call("POST", &format!("{members}/bob@acme.test/invitations"), t, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = env.call("POST", &format!("{members}/ghost@acme.test/deactivate"), t, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // The last active admin stays.
        let (s, e) = env.call("POST", &format!("{members}/{ADMIN}/deactivate"), t, None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("last_admin")));
        assert_eq!(env.call("GET", &creds(), t, None).await.0, StatusCode::OK);
        env.finish().await;
    }
}

/// Hostile and odd input never gets a 500 (nor panics): every answer is a
/// JSON error or success from the documented set.
#[tokio::test]
async fn odd_input_never_500() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let c = env.create_credential("odd").await;
        let id = c["client_id"].as_str().unwrap().to_owned();
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let bodies: Vec<String> = vec![
            deep,
            "null".into(),
            "\"string\"".into(),
            "1e999".into(),
            "{\"name\": \"\\u0000\", \"owner\": \"a@b\", \"privileges\": [\"embedding\"]}".into(),
            "{\"name\": \"\u{1F600}\", \"owner\": \"\u{1F600}@\u{1F600}\", \"privileges\": [\"embedding\"]}".into(),
            "{\"name\": \"n\", \"owner\": \"admin@acme.test\", \"privileges\": [\"embedding\"], \"max_token_lifetime_s\": 1e300}".into(),
            "{\"name\": \"n\", \"owner\": \"admin@acme.test\", \"privileges\": [\"embedding\"], \"max_token_lifetime_s\": -1}".into(),
            "{\"name\": \"n\", \"owner\": \"admin@acme.test\", \"privileges\": [\"embedding\"], \"not_before_cutoff\": 99999999999999999999}".into(),
            "{\"name\": \"n2\", \"owner\": \"admin@acme.test\", \"privileges\": [\"embedding\"], \"allowed_origins\": [\"https://\u{1F600}.example\"]}".into(),
            "{\"email\": \"x@y\", \"account_type\": null}".into(),
            "{\"name\": \"'; DROP TABLE credentials; --\", \"owner\": \"admin@acme.test\", \"privileges\": [\"api\"]}".into(),
            "{\"email\": \"o'brien@acme.test\", \"account_type\": \"viewer\"}".into(),
            "\u{feff}{}".into(),
            "{\"a\":1,\"a\":2}".into(),
            "{\"name\": \"nul\", \"description\": \"a\\u0000b\", \"owner\": \"admin@acme.test\", \"privileges\": [\"api\"]}".into(),
            "{\"name\": \"lone\", \"description\": \"\\ud800\", \"owner\": \"admin@acme.test\", \"privileges\": [\"api\"]}".into(),
        ];
        let paths = [
            creds(),
            format!("/api/v1/orgs/{ORG}/members"),
            format!("/api/v1/orgs/{ORG}/members/admin@acme.test/tokens"),
            cred(&id, "rotate"),
            cred(&id, "retire-previous"),
        ];
        for path in &paths {
            for body in &bodies {
                let (s, e) = env.call_raw("POST", path, t, Some((body, "application/json")), None).await;
                assert!(s.as_u16() < 500, "{path} {} -> {s} {e}", &body[..body.len().min(80)]);
                if !s.is_success() {
                    assert!(e["error"].is_string(), "{path} -> {s} {e}");
                }
            }
        }
        for path in [cred(&id, ""), format!("/api/v1/orgs/{ORG}/members/{ADMIN}")] {
            for body in &bodies {
                let (s, e) = env.call_raw("PATCH", &path, t, Some((body, "application/json")), None).await;
                assert!(s.as_u16() < 500, "PATCH {path} {} -> {s} {e}", &body[..body.len().min(80)]);
                if !s.is_success() {
                    assert!(e["error"].is_string(), "PATCH {path} -> {s} {e}");
                }
            }
        }
        for path in [
            format!("/api/v1/orgs/{ORG}/members/a%00b@acme.test/deactivate"),
            format!("/api/v1/orgs/{ORG}/members/a%00b@acme.test/tokens"),
            format!("/api/v1/orgs/{ORG}/members/admin@acme.test/tokens/a%00b/revoke"),
            format!("/api/v1/orgs/{ORG}/credentials/a%00b/rotate"),
            "/api/v1/orgs/a%00b/credentials".to_owned(),
        ] {
            let (s, _) = env.call("POST", &path, t, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        }
        for q in ["limit=abc", "limit=-1", "before=0", "limit=99999999999999999999", "before=%FF", "limit=1&limit=2"] {
            let (s, _) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit?{q}"), t, None).await;
            assert!(s.as_u16() < 500, "{q} -> {s}");
        }
        // The SQL-looking name is data, nothing more.
        let (s, list) = env.call("GET", &creds(), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(list.to_string().contains("DROP TABLE credentials"));
        env.finish().await;
    }
}

/// The credential list pages by `limit` and `after` in a stable order: 250 credentials
/// with limit 100 are 3 pages, none twice, none missing; bad paging input is 422.
#[tokio::test]
async fn credential_list_pages_with_limit_and_after() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let mut created = std::collections::BTreeSet::new();
        for i in 0..250 {
            let c = env.create_credential(&format!("paged-{i:03}")).await;
            created.insert(c["client_id"].as_str().unwrap().to_owned());
        }
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("{}?limit=100&after={a}", creds()),
                None => format!("{}?limit=100", creds()),
            };
            let (s, page) = env.call("GET", &path, t, None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            pages += 1;
            let items = page["credentials"].as_array().unwrap();
            assert!(items.len() <= 100);
            seen.extend(items.iter().map(|i| i["client_id"].as_str().unwrap().to_owned()));
            match page["next"].as_str() {
                Some(next) => {
                    assert_eq!(Some(next), items.last().unwrap()["client_id"].as_str());
                    after = Some(next.to_owned());
                }
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), 250, "no duplicates");
        assert_eq!(seen.iter().cloned().collect::<std::collections::BTreeSet<_>>(), created, "none missing");

        // The default page is 100; the whole list fits in one page of 1000.
        let (s, page) = env.call("GET", &creds(), t, None).await;
        assert_eq!((s, page["credentials"].as_array().unwrap().len()), (StatusCode::OK, 100));
        let (s, page) = env.call("GET", &format!("{}?limit=1000", creds()), t, None).await;
        assert_eq!((s, page["credentials"].as_array().unwrap().len()), (StatusCode::OK, 250));
        assert!(page["next"].is_null());
        let ids: Vec<String> = page["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["client_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, seen, "the same stable order");
        if env.url.starts_with("sqlite") {
            // The page query walks the (org, created_at, client_id) index: no scan, no sort.
            let plan = sqlx::query(
                "EXPLAIN QUERY PLAN SELECT c.client_id FROM credentials c LEFT JOIN members m \
                 ON m.org = c.org AND m.email = c.owner_email WHERE c.org = $1 \
                 AND (c.created_at, c.client_id) > ($2, $3) ORDER BY c.created_at, c.client_id LIMIT $4",
            )
            .bind(ORG)
            .bind(0_i64)
            .bind("")
            .bind(101_i64)
            .fetch_all(&env.db().pool)
            .await
            .unwrap();
            let plan: Vec<String> =
                plan.iter().map(|r| sqlx::Row::try_get::<String, _>(r, "detail").unwrap()).collect();
            let text = plan.join("; ");
            assert!(text.contains("credentials_by_org_page"), "{text}");
            assert!(!text.contains("TEMP B-TREE"), "{text}");
        }

        for bad in ["limit=0", "limit=1001", "limit=-5", "limit=ten", "limit="] {
            let (s, body) = env.call("GET", &format!("{}?{bad}", creds()), t, None).await;
            assert_eq!((s, body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")), "{bad}: {body}");
        }
        for bad in ["after=nonsense", "after=", "after=00000000000000000000000000000000"] {
            let (s, body) = env.call("GET", &format!("{}?{bad}", creds()), t, None).await;
            assert_eq!((s, body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("after")), "{bad}: {body}");
        }
        env.finish().await;
    }
}

/// A credential whose owner is deactivated: the API, the list and the state
/// pushed to the edges all say it no longer works, decided by the one status
/// function (core's `CredentialStatus::of`), and revoking it still makes it
/// `revoked`.
#[tokio::test]
async fn a_deactivated_owners_credential_is_owner_inactive_everywhere() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        env.member_with_token("olga@acme.test", "creator").await;
        let body = json!({"name": "Olga's", "owner": "olga@acme.test", "privileges": ["embedding"]});
        let (s, created) = env.call("POST", &creds(), t, Some(&body)).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["status"], "active");
        let id = created["client_id"].as_str().unwrap().to_owned();
        // What an edge verifies with: the pushed record composed with its owner's standing.
        let at_the_edge = |(creds, owners): (Vec<embedgate_core::EdgeCredential>, Vec<embedgate_core::EdgeOwner>)| {
            let c = creds.into_iter().find(|c| c.client_id.as_str() == id).unwrap();
            let owner = owners.into_iter().find(|o| o.email == c.owner);
            c.record(&ORG.parse().unwrap(), owner.as_ref())
        };
        let exported = embedgate_admin::store::export::org_records(env.db(), &env.sealer(), ORG).await.unwrap();
        assert!(!at_the_edge(exported).is_revoked());

        let (s, _) = env.call("POST", &format!("/api/v1/orgs/{ORG}/members/olga@acme.test/deactivate"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        let (_, got) = env.call("GET", &cred(&id, ""), t, None).await;
        assert_eq!(got["status"], "owner_inactive", "{got}");
        let (_, list) = env.call("GET", &creds(), t, None).await;
        let listed = list["credentials"].as_array().unwrap().iter().find(|c| c["client_id"] == id.as_str()).unwrap();
        assert_eq!(listed["status"], "owner_inactive");
        let exported = embedgate_admin::store::export::org_records(env.db(), &env.sealer(), ORG).await.unwrap();
        assert!(at_the_edge(exported).is_revoked(), "refused at the edge");

        // Revoked wins over the owner's standing.
        let (s, revoked) = env.call("POST", &cred(&id, "revoke"), t, None).await;
        assert_eq!((s, revoked["status"].as_str()), (StatusCode::OK, Some("revoked")));
        env.finish().await;
    }
}

fn now_s() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Issue 14, item 6: member tokens expire. A new token lives the server's
/// default or what its issuer asks within the maximum; listings show the
/// expiry; an expired token is 401 `token_expired` (the old code had no
/// expiry at all: no `expires_at`, and a token worked until revoked).
#[tokio::test]
async fn member_tokens_expire() {
    for backend in backends() {
        let env = Env::with_state(&backend, 20, |s| s.tokens = TokenPolicy::new(3600, 7200).unwrap()).await;
        let t = Some(env.admin_token.as_str());
        let tokens = format!("/api/v1/orgs/{ORG}/members/{ADMIN}/tokens");
        // The first admin's token (init) got the default lifetime too.
        let (s, list) = env.call("GET", &tokens, t, None).await;
        assert_eq!(s, StatusCode::OK);
        let first = list["tokens"][0]["expires_at"].as_i64().unwrap();
        assert!((first - (now_s() + 30 * 86_400)).abs() < 60, "{list}");

        let (s, issued) = env.call("POST", &tokens, t, None).await;
        assert_eq!(s, StatusCode::CREATED, "{issued}");
        let default = issued["expires_at"].as_i64().unwrap();
        assert!((default - (now_s() + 3600)).abs() < 60, "{issued}");
        let (s, short) = env.call("POST", &tokens, t, Some(&json!({"expires_in_s": 600}))).await;
        assert_eq!(s, StatusCode::CREATED, "{short}");
        assert!((short["expires_at"].as_i64().unwrap() - (now_s() + 600)).abs() < 60, "{short}");
        let (s, null) = env.call("POST", &tokens, t, Some(&json!({"expires_in_s": null}))).await;
        assert_eq!(s, StatusCode::CREATED, "{null}");
        assert!((null["expires_at"].as_i64().unwrap() - default).abs() < 60, "{null}");

        // Beyond the maximum, too short, not an integer, unknown keys: 422.
        for (body, field) in [
            (json!({"expires_in_s": 7201}), "expires_in_s"),
            (json!({"expires_in_s": 59}), "expires_in_s"),
            (json!({"expires_in_s": "3600"}), "expires_in_s"),
            (json!({"expires_in_s": 1.5}), "expires_in_s"),
            (json!({"lifetime": 60}), "body"),
            (json!([1]), "body"),
        ] {
            let (s, e) = env.call("POST", &tokens, t, Some(&body)).await;
            assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {e}");
        }
        assert!(env.call("POST", &tokens, t, Some(&json!({"expires_in_s": 7201}))).await.1["message"]
            .as_str()
            .unwrap()
            .contains("7200"));
        let (s, _) = env.call_raw("POST", &tokens, t, Some(("{\"expires_in_s\": 60}", "text/plain")), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // Listings show every token's expiry.
        let (_, list) = env.call("GET", &tokens, t, None).await;
        let listed = list["tokens"].as_array().unwrap();
        assert_eq!(listed.len(), 4, "{list}");
        assert!(listed.iter().all(|tok| tok["expires_at"].as_i64().is_some()), "{list}");
        let short_listed = listed.iter().find(|tok| tok["id"] == short["id"]).unwrap();
        assert_eq!(short_listed["expires_at"], short["expires_at"]);

        // Past its expiry the token is refused with its own code; others work.
        let expired = short["token"].as_str().unwrap();
        assert_eq!(env.call("GET", "/api/v1/me", Some(expired), None).await.0, StatusCode::OK);
        sqlx::query("UPDATE member_tokens SET expires_at = $1 WHERE id = $2")
            .bind(now_s())
            .bind(short["id"].as_str().unwrap())
            .execute(&env.db().pool)
            .await
            .unwrap();
        let (s, e) = env.call("GET", "/api/v1/me", Some(expired), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_expired")), "{e}");
        let (s, e) = env.call("GET", &creds(), Some(expired), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_expired")), "{e}");
        assert_eq!(
            env.call("GET", "/api/v1/me", Some(issued["token"].as_str().unwrap()), None).await.0,
            StatusCode::OK
        );
        env.finish().await;
    }
}

/// Tokens issued before expiry existed get 90 days (the default maximum)
/// from the migration: an upgrade signs nobody out, and no token lives on
/// forever. (Replayed by dropping the column and the migration's record.)
#[tokio::test]
async fn tokens_from_before_expiry_get_ninety_days_at_the_upgrade() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        for statement in
            ["ALTER TABLE member_tokens DROP COLUMN expires_at", "DELETE FROM embedgate_migrations WHERE version = 6"]
        {
            sqlx::query(statement).execute(&env.db().pool).await.unwrap();
        }
        let upgraded = embedgate_admin::store::open(&env.url).await.unwrap();
        let expires_at: i64 =
            sqlx::query_scalar("SELECT expires_at FROM member_tokens").fetch_one(&upgraded.pool).await.unwrap();
        assert!((expires_at - (now_s() + 90 * 86_400)).abs() < 60, "{expires_at}");
        upgraded.pool.close().await;
        let (s, _) = env.call("GET", "/api/v1/me", Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        env.finish().await;
    }
}

/// Issue 14, item 6: every audit entry made through the API records the ID
/// of the token used (never the token) and the client address as the
/// trusted-proxy rule resolves it; the command line's entries have neither.
/// (The old audit rows had no `token_id` or `address` at all.)
#[tokio::test]
async fn audit_records_the_token_id_and_client_address() {
    for backend in backends() {
        let env = Env::with_state(&backend, 20, |state| {
            state.trusted_proxies = Arc::new(TrustedProxies::parse("10.0.0.0/8").unwrap());
        })
        .await;
        let t = Some(env.admin_token.as_str());
        let admin_token_id: String =
            sqlx::query_scalar("SELECT id FROM member_tokens").fetch_one(&env.db().pool).await.unwrap();
        let proxy: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let direct: SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
        let via = [("x-forwarded-for", "198.51.100.66, 203.0.113.5")];
        let body = json!({"name": "audited", "owner": ADMIN, "privileges": ["embedding"]}).to_string();
        let (s, _, _) = env.call_with("POST", &creds(), t, Some((&body, "application/json")), Some(proxy), &via).await;
        assert_eq!(s, StatusCode::CREATED);
        let tokens = format!("/api/v1/orgs/{ORG}/members/{ADMIN}/tokens");
        let (s, _, issued) = env.call_with("POST", &tokens, t, None, Some(direct), &[]).await;
        assert_eq!(s, StatusCode::CREATED);
        let second = issued["token"].as_str().unwrap();
        let patch = json!({"account_type": "admin"}).to_string();
        let add = json!({"email": "bob@acme.test", "account_type": "viewer"}).to_string();
        let (s, _) = env
            .call_raw(
                "POST",
                &format!("/api/v1/orgs/{ORG}/members"),
                Some(second),
                Some((&add, "application/json")),
                Some(direct),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = env
            .call_raw("PATCH", &member("bob@acme.test"), Some(second), Some((&patch, "application/json")), None)
            .await;
        assert_eq!(s, StatusCode::OK);

        let (s, page) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        let items = page["items"].as_array().unwrap();
        let find = |action: &str| items.iter().find(|i| i["action"] == action).unwrap().clone();
        let create = find("credential.create");
        assert_eq!(
            (create["token_id"].as_str(), create["address"].as_str()),
            (Some(admin_token_id.as_str()), Some("203.0.113.5"))
        );
        let issue = find("member.token_issue");
        assert_eq!(
            (issue["token_id"].as_str(), issue["address"].as_str()),
            (Some(admin_token_id.as_str()), Some("2001:db8::7"))
        );
        let added = find("member.create");
        assert_eq!(
            (added["token_id"].as_str(), added["address"].as_str()),
            (issued["id"].as_str(), Some("2001:db8::7"))
        );
        let updated = find("member.update");
        assert_eq!(
            (updated["token_id"].as_str(), updated["address"].as_str()),
            (issued["id"].as_str(), Some("0.0.0.0"))
        );
        let init = find("org.create");
        assert!(init["token_id"].is_null() && init["address"].is_null(), "{init}");
        assert!(
            items
                .iter()
                .filter(|i| i["actor"] != "embedgate-init")
                .all(|i| i["token_id"].is_string() && i["address"].is_string()),
            "{page}"
        );
        assert!(!page.to_string().contains(&env.admin_token) && !page.to_string().contains(second));
        env.finish().await;
    }
}

/// Issue 14, item 6: a member token is issued only to its own member (on
/// the old code an admin could mint one for any member, another admin
/// included, and act as them). A member issues, lists and revokes their own;
/// an admin lists and revokes anyone's; a member without a live token gets
/// in through a one-time invitation that they redeem themselves.
#[tokio::test]
#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one scenario, read top to bottom
async fn tokens_are_issued_only_to_their_own_member() {
    for backend in backends() {
        let env = Env::with_auth_limit(&backend, 3).await;
        let t = Some(env.admin_token.as_str());
        let members = format!("/api/v1/orgs/{ORG}/members");
        let bob = env.member_with_token("bob@acme.test", "admin").await;
        let vic = env.member_with_token("vic@acme.test", "viewer").await;
        // Nobody mints for someone else, an admin included.
        for (who, email) in [(t, "bob@acme.test"), (t, "vic@acme.test"), (Some(vic.as_str()), ADMIN)] {
            let (s, e) = env.call("POST", &format!("{members}/{email}/tokens"), who, None).await;
            assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("own_tokens_only")), "{email}");
        }
        // A viewer issues their own (for automation), lists and revokes them.
        let (s, own) = env
            .call("POST", &format!("{members}/vic@acme.test/tokens"), Some(&vic), Some(&json!({"expires_in_s": 3600})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{own}");
        let (s, list) = env.call("GET", &format!("{members}/vic@acme.test/tokens"), Some(&vic), None).await;
        assert_eq!((s, list["tokens"].as_array().unwrap().len()), (StatusCode::OK, 2));
        assert!(list["tokens"].as_array().unwrap().iter().all(|tok| tok["created_by"] == "vic@acme.test"), "{list}");
        let (s, e) = env.call("GET", &format!("{members}/{ADMIN}/tokens"), Some(&vic), None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let bobs_id: String = sqlx::query_scalar("SELECT id FROM member_tokens WHERE email = 'bob@acme.test'")
            .fetch_one(&env.db().pool)
            .await
            .unwrap();
        let (s, _) =
            env.call("POST", &format!("{members}/bob@acme.test/tokens/{bobs_id}/revoke"), Some(&vic), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let own_revoke = format!("{members}/vic@acme.test/tokens/{}/revoke", own["id"].as_str().unwrap());
        assert_eq!(env.call("POST", &own_revoke, Some(&vic), None).await.0, StatusCode::OK);
        // An admin lists and revokes anyone's.
        assert_eq!(env.call("GET", &format!("{members}/bob@acme.test/tokens"), t, None).await.0, StatusCode::OK);

        // An invitation is only for a member without a live token...
        let invite = format!("{members}/bob@acme.test/invitations");
        let (s, e) = env.call("POST", &invite, t, None).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("member_has_token")));
        assert_eq!(env.call("POST", &invite, Some(&vic), None).await.0, StatusCode::FORBIDDEN);
        let (s, _) = env.call("POST", &format!("{members}/bob@acme.test/tokens/{bobs_id}/revoke"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(env.call("GET", "/api/v1/me", Some(&bob), None).await.0, StatusCode::UNAUTHORIZED);
        // ...single use, and a newer one voids the older.
        let (s, older) = env.call("POST", &invite, t, None).await;
        assert_eq!(s, StatusCode::CREATED, "{older}");
        let (s, inv) = env.call("POST", &invite, t, None).await;
        assert_eq!(s, StatusCode::CREATED, "{inv}");
        assert!(inv["code"].as_str().unwrap().starts_with("egi_"));
        let redeem = |code: &str| json!({"code": code, "expires_in_s": 600});
        let a: SocketAddr = "192.0.2.40:1".parse().unwrap();
        let redeem_from = |code: String, from: SocketAddr| {
            let body = redeem(&code).to_string();
            let env = &env;
            async move {
                let (s, _, b) = env
                    .call_with(
                        "POST",
                        "/api/v1/invitations/redeem",
                        None,
                        Some((&body, "application/json")),
                        Some(from),
                        &[],
                    )
                    .await;
                (s, b)
            }
        };
        let (s, e) = redeem_from(older["code"].as_str().unwrap().to_owned(), a).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invitation_invalid")), "voided");
        let (s, got) = redeem_from(inv["code"].as_str().unwrap().to_owned(), a).await;
        assert_eq!(s, StatusCode::CREATED, "{got}");
        assert!((got["expires_at"].as_i64().unwrap() - (now_s() + 600)).abs() < 60);
        let fresh = got["token"].as_str().unwrap();
        let (s, me) = env.call("GET", "/api/v1/me", Some(fresh), None).await;
        assert_eq!((s, me["email"].as_str()), (StatusCode::OK, Some("bob@acme.test")));
        let (_, list) = env.call("GET", &format!("{members}/bob@acme.test/tokens"), t, None).await;
        assert_eq!(list["tokens"][0]["created_by"], "bob@acme.test", "the member issued it, not the admin: {list}");
        // Used: refused; and failures count towards the address's back-off.
        let (s, _) = redeem_from(inv["code"].as_str().unwrap().to_owned(), a).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = redeem_from(format!("egi_{}", "0".repeat(64)), a).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, e) = redeem_from("not a code".to_owned(), a).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")));
        // An expired invitation is refused.
        let (_, vic_list) = env.call("GET", &format!("{members}/vic@acme.test/tokens"), t, None).await;
        for tok in vic_list["tokens"].as_array().unwrap() {
            let path = format!("{members}/vic@acme.test/tokens/{}/revoke", tok["id"].as_str().unwrap());
            assert_eq!(env.call("POST", &path, t, None).await.0, StatusCode::OK);
        }
        let (s, late) = env.call("POST", &format!("{members}/vic@acme.test/invitations"), t, None).await;
        assert_eq!(s, StatusCode::CREATED, "{late}");
        sqlx::query("UPDATE member_invitations SET expires_at = $1 WHERE id = $2")
            .bind(now_s())
            .bind(late["id"].as_str().unwrap())
            .execute(&env.db().pool)
            .await
            .unwrap();
        let (s, _) = redeem_from(late["code"].as_str().unwrap().to_owned(), "192.0.2.41:1".parse().unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // The audit: the admin invited, the member redeemed (with the new token's id and the address).
        let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), t, None).await;
        let items = audit["items"].as_array().unwrap();
        let redeemed =
            items.iter().find(|i| i["action"] == "member.invitation_redeem" && i["target"] == "bob@acme.test").unwrap();
        assert_eq!(redeemed["actor"], "bob@acme.test");
        assert_eq!(redeemed["token_id"], got["id"]);
        assert_eq!(redeemed["address"], "192.0.2.40");
        assert!(!audit.to_string().contains(inv["code"].as_str().unwrap()), "never the code");
        env.finish().await;
    }
}
