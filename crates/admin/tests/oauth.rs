//! The OAuth 2.0 client-credentials grant (issue 15: the `api` privilege
//! does something): `POST /api/v1/oauth/token` by HTTP Basic and by form,
//! every RFC 6749 §5.2 error, the access token on the org's API as its
//! credential's owner (their current account type), everything that ends
//! it, what it may never do, its audit trail, RFC 7009 revocation, and that
//! only its hash is stored. Real databases, through the router.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use common::{backends, Backend, Env, ADMIN, ORG};
use serde_json::{json, Value};
use sha2::Digest as _;

const TOKEN: &str = "/api/v1/oauth/token";
const REVOKE: &str = "/api/v1/oauth/revoke";
const FORM: &str = "application/x-www-form-urlencoded";

fn creds() -> String {
    format!("/api/v1/orgs/{ORG}/credentials")
}

fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}")))
}

/// A credential owned by `owner` with `privileges`: (client ID, secret).
async fn credential(env: &Env, name: &str, owner: &str, privileges: &[&str]) -> (String, String) {
    let (s, body) = env
        .call(
            "POST",
            &creds(),
            Some(&env.admin_token),
            Some(&json!({ "name": name, "owner": owner, "privileges": privileges })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    (body["client_id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// `POST /api/v1/oauth/token` with a form body and extra headers.
async fn post_form(env: &Env, path: &str, form: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
    env.call_with("POST", path, None, Some((form, FORM)), None, headers).await
}

/// A grant by HTTP Basic: its access token.
async fn grant(env: &Env, client_id: &str, secret: &str) -> String {
    let auth = basic(client_id, secret);
    let (s, _, body) = post_form(env, TOKEN, "grant_type=client_credentials", &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn list_status(env: &Env, token: &str) -> (StatusCode, Value) {
    env.call("GET", &creds(), Some(token), None).await
}

#[tokio::test]
async fn a_grant_by_basic_or_by_form_gives_a_bearer_token_that_lists_credentials() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, secret) = credential(&env, "reporting", ADMIN, &["embedding", "api"]).await;

        let auth = basic(&id, &secret);
        let (s, headers, body) =
            post_form(&env, TOKEN, "grant_type=client_credentials", &[("authorization", &auth)]).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        let token = body["access_token"].as_str().unwrap();
        assert!(token.starts_with("egc_") && token.len() == 68, "{token}");
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        let (s, page) = list_status(&env, token).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(page["credentials"][0]["client_id"], id.as_str());

        // The form fields (RFC 6749 §2.3.1), percent-encoding and all.
        let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
        let (s, _, body) = post_form(&env, TOKEN, &form, &[]).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let other = body["access_token"].as_str().unwrap();
        assert_ne!(other, token);
        assert_eq!(list_status(&env, other).await.0, StatusCode::OK);
        // GET /api/v1/me names the owner.
        let (s, me) = env.call("GET", "/api/v1/me", Some(other), None).await;
        assert_eq!((s, me["email"].as_str()), (StatusCode::OK, Some(ADMIN)), "{me}");
        env.finish().await;
    }
}

/// Asserts that a grant is refused with `code`: RFC 6749 §5.2's body (400,
/// or 401 for `invalid_client`), `no-store`, and `WWW-Authenticate: Basic`
/// exactly when Basic authentication failed.
async fn assert_refused(env: &Env, what: &str, (form, content_type): (&str, &str), auth: Option<&str>, code: &str) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let (s, headers, body) = env.call_with("POST", TOKEN, None, Some((form, content_type)), None, &headers).await;
    let status = if code == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    assert_eq!((s, body["error"].as_str()), (status, Some(code)), "{what}: {body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{what}: {body}");
    assert_eq!(headers["cache-control"], "no-store", "{what}");
    let challenged = headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    if code == "invalid_client" && auth.is_some_and(|a| a.starts_with("Basic ")) {
        assert_eq!(challenged.as_deref(), Some("Basic realm=\"embedgate\""), "{what}");
    } else {
        assert_eq!(challenged, None, "{what}");
    }
    assert!(!body.to_string().contains("egs_"), "{what}: {body}");
}

#[tokio::test]
async fn every_oauth_error_has_its_rfc_6749_code() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
        let (embed_id, embed_secret) = credential(&env, "embed-only", ADMIN, &["embedding"]).await;
        let good = Some(basic(&id, &secret));
        let grant = "grant_type=client_credentials";
        let json = (grant, "application/json");
        assert_refused(&env, "not a form", json, good.as_deref(), "invalid_request").await;
        let cases = [
            ("no client authentication", grant.to_owned(), None, "invalid_request"),
            ("no secret", format!("{grant}&client_id={id}"), None, "invalid_request"),
            ("both ways", format!("{grant}&client_id={id}"), good.clone(), "invalid_request"),
            ("bearer, not basic", grant.to_owned(), Some("Bearer x".to_owned()), "invalid_request"),
            ("basic, not base64", grant.to_owned(), Some("Basic !!!".to_owned()), "invalid_request"),
            ("no grant_type", String::new(), good.clone(), "invalid_request"),
            ("repeated", format!("{grant}&{grant}"), good.clone(), "invalid_request"),
            ("password grant", "grant_type=password".to_owned(), good.clone(), "unsupported_grant_type"),
            ("scope", format!("{grant}&scope=admin"), good.clone(), "invalid_scope"),
            ("no api privilege", grant.to_owned(), Some(basic(&embed_id, &embed_secret)), "unauthorized_client"),
            ("another's secret", grant.to_owned(), Some(basic(&id, &embed_secret)), "invalid_client"),
            ("not a secret", grant.to_owned(), Some(basic(&id, "hunter2")), "invalid_client"),
            ("unknown client", grant.to_owned(), Some(basic(&"0".repeat(32), &secret)), "invalid_client"),
            ("by form", format!("{grant}&client_id={id}&client_secret={embed_secret}"), None, "invalid_client"),
        ];
        for (what, form, auth, code) in cases {
            assert_refused(&env, what, (&form, FORM), auth.as_deref(), code).await;
        }
        env.finish().await;
    }
}

#[tokio::test]
async fn a_revoked_credential_or_a_deactivated_owner_is_an_invalid_client() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let grant = ("grant_type=client_credentials", FORM);
        let member = "owner@acme.test";
        env.member_with_token(member, "admin").await;
        let (owned, owned_secret) = credential(&env, "owned", member, &["api"]).await;
        let (s, _) = env
            .call("POST", &format!("/api/v1/orgs/{ORG}/members/{member}/deactivate"), Some(&env.admin_token), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_refused(&env, "deactivated", grant, Some(&basic(&owned, &owned_secret)), "invalid_client").await;
        let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
        let (s, _) = env.call("POST", &format!("{}/{id}/revoke", creds()), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_refused(&env, "revoked", grant, Some(&basic(&id, &secret)), "invalid_client").await;
        env.finish().await;
    }
}

#[tokio::test]
async fn failed_client_authentications_count_in_the_limiter() {
    let env = Env::with_auth_limit(&Backend::Sqlite, 2).await;
    let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
    let wrong = basic(&id, &credential(&env, "other", ADMIN, &["api"]).await.1);
    let mut last = (StatusCode::OK, HeaderMap::new(), Value::Null);
    for _ in 0..4 {
        last = post_form(&env, TOKEN, "grant_type=client_credentials", &[("authorization", &wrong)]).await;
    }
    let (s, headers, body) = last;
    assert_eq!((s, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")), "{body}");
    assert!(headers.contains_key("retry-after"));
    // The right secret is never refused for its address's failures.
    grant(&env, &id, &secret).await;
    env.finish().await;
}

#[tokio::test]
async fn the_token_acts_with_its_owners_current_account_type() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let boss = "boss@acme.test";
        env.member_with_token(boss, "admin").await;
        let viewer = "viewer@acme.test";
        env.member_with_token(viewer, "viewer").await;
        let (boss_id, boss_secret) = credential(&env, "boss-api", boss, &["api"]).await;
        let (viewer_id, viewer_secret) = credential(&env, "viewer-api", viewer, &["api"]).await;
        let as_boss = grant(&env, &boss_id, &boss_secret).await;
        let as_viewer = grant(&env, &viewer_id, &viewer_secret).await;
        let new = |name: &str| json!({ "name": name, "owner": boss, "privileges": ["embedding"] });

        // An admin owner's token administers; a viewer owner's only reads.
        let (s, made) = env.call("POST", &creds(), Some(&as_boss), Some(&new("by-api"))).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        assert_eq!(made["created_by"], format!("credential:{boss_id}"));
        assert_eq!(list_status(&env, &as_viewer).await.0, StatusCode::OK);
        let (s, body) = env.call("POST", &creds(), Some(&as_viewer), Some(&new("refused"))).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
        let (s, _) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), Some(&as_viewer), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Demoted: admin powers end at once, reading goes on.
        let (s, _) = env
            .call(
                "PATCH",
                &format!("/api/v1/orgs/{ORG}/members/{boss}"),
                Some(&env.admin_token),
                Some(&json!({ "account_type": "creator" })),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = env.call("POST", &creds(), Some(&as_boss), Some(&new("after-demotion"))).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
        assert_eq!(list_status(&env, &as_boss).await.0, StatusCode::OK);

        // Another org's API: 404, as for a member token.
        embedgate_admin::server::init_org(env.db(), env.keys(), "other", "root@other.test").await.unwrap().unwrap();
        let (s, _) = env.call("GET", "/api/v1/orgs/other/credentials", Some(&as_boss), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Deactivated: 401.
        let (s, _) = env
            .call("POST", &format!("/api/v1/orgs/{ORG}/members/{viewer}/deactivate"), Some(&env.admin_token), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = list_status(&env, &as_viewer).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{body}");
        env.finish().await;
    }
}

#[tokio::test]
async fn revocation_retirement_and_losing_the_privilege_each_end_the_token() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, first) = credential(&env, "api", ADMIN, &["api"]).await;
        let by_first = grant(&env, &id, &first).await;

        // Rotated: the first generation is still live, and so are its tokens.
        let (s, rotated) = env.call("POST", &format!("{}/{id}/rotate", creds()), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        let second = rotated["secret"].as_str().unwrap().to_owned();
        let by_second = grant(&env, &id, &second).await;
        let by_first_again = grant(&env, &id, &first).await;
        assert_eq!(list_status(&env, &by_first).await.0, StatusCode::OK);
        // Retired: the first generation's tokens die, the second's live on.
        let (s, _) = env.call("POST", &format!("{}/{id}/retire-previous", creds()), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list_status(&env, &by_first).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(list_status(&env, &by_first_again).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(list_status(&env, &by_second).await.0, StatusCode::OK);
        let auth = basic(&id, &first);
        let (s, _, _) = post_form(&env, TOKEN, "grant_type=client_credentials", &[("authorization", &auth)]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a retired secret authenticates no more");

        // The api privilege taken away: its tokens die; given back, they live again (nothing was revoked).
        let privileges = |p: &[&str]| json!({ "privileges": p });
        let path = format!("{}/{id}", creds());
        env.call("PATCH", &path, Some(&env.admin_token), Some(&privileges(&["embedding"]))).await;
        assert_eq!(list_status(&env, &by_second).await.0, StatusCode::UNAUTHORIZED);
        env.call("PATCH", &path, Some(&env.admin_token), Some(&privileges(&["api"]))).await;
        assert_eq!(list_status(&env, &by_second).await.0, StatusCode::OK);

        // The credential revoked: every token of it dies.
        let (s, _) = env.call("POST", &format!("{path}/revoke"), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = list_status(&env, &by_second).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{body}");
        // Deleted: the same.
        let (s, _) = env.call("DELETE", &path, Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list_status(&env, &by_second).await.0, StatusCode::UNAUTHORIZED);
        env.finish().await;
    }
}

#[tokio::test]
async fn the_token_expires() {
    let env = Env::with_state(&Backend::Sqlite, 20, |state| state.api_token_ttl_s = 1).await;
    let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
    let auth = basic(&id, &secret);
    let (s, _, body) = post_form(&env, TOKEN, "grant_type=client_credentials", &[("authorization", &auth)]).await;
    assert_eq!((s, body["expires_in"].as_i64()), (StatusCode::OK, Some(1)));
    let token = body["access_token"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, body) = list_status(&env, token).await;
    assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_expired")), "{body}");
    env.finish().await;
}

#[tokio::test]
async fn the_next_grant_forgets_tokens_expired_for_over_a_day() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
        let (old, recent) = (grant(&env, &id, &secret).await, grant(&env, &id, &secret).await);
        let now = embedgate_admin::server::now();
        for (token, expired) in [(&old, now - 86_400 - 10), (&recent, now - 3600)] {
            sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE token_hash = $2")
                .bind(expired)
                .bind(hex(&sha2::Sha256::digest(token.as_bytes())))
                .execute(&env.db().pool)
                .await
                .unwrap();
        }
        grant(&env, &id, &secret).await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens").fetch_one(&env.db().pool).await.unwrap();
        assert_eq!(left, 2, "the token expired a day ago is gone, the one expired an hour ago stays");
        let (s, body) = list_status(&env, &recent).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_expired")));
        assert_eq!(list_status(&env, &old).await.0, StatusCode::UNAUTHORIZED);
        env.finish().await;
    }
}

#[tokio::test]
async fn an_access_token_cannot_make_itself_long_lived() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
        let token = grant(&env, &id, &secret).await;
        env.member_with_token("new@acme.test", "viewer").await;
        let refused = [
            ("POST", format!("/api/v1/orgs/{ORG}/members/{ADMIN}/tokens"), None),
            ("POST", format!("/api/v1/orgs/{ORG}/members/{ADMIN}/invitations"), None),
            ("POST", format!("/api/v1/orgs/{ORG}/keys/rotate"), Some(json!({ "confirm": ORG }))),
            ("GET", "/api/v1/edges".to_owned(), None),
        ];
        for (method, path, body) in refused {
            let (s, answer) = env.call(method, &path, Some(&token), body.as_ref()).await;
            assert_eq!(
                (s, answer["error"].as_str()),
                (StatusCode::FORBIDDEN, Some("member_token_required")),
                "{method} {path}: {answer}"
            );
        }
        // Nor can it obtain another access token with itself.
        let (s, _, _) =
            post_form(&env, TOKEN, "grant_type=client_credentials", &[("authorization", &format!("Bearer {token}"))])
                .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        env.finish().await;
    }
}

#[tokio::test]
async fn audit_entries_name_the_credential_and_only_a_hash_is_stored() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, secret) = credential(&env, "api", ADMIN, &["api"]).await;
        let token = grant(&env, &id, &secret).await;
        let (s, _) = env
            .call("PATCH", &format!("{}/{id}", creds()), Some(&token), Some(&json!({ "description": "via api" })))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), Some(&env.admin_token), None).await;
        let items = audit["items"].as_array().unwrap();
        let (update, issue) = (&items[0], &items[1]);
        assert_eq!(update["action"], "credential.update");
        assert_eq!(issue["action"], "credential.api_token_issue");
        for entry in [update, issue] {
            assert_eq!(entry["actor"], format!("credential:{id}"), "{entry}");
            assert_eq!(entry["token_id"], issue["detail"]["token_id"], "{entry}");
            assert!(entry["address"].is_string(), "{entry}");
        }
        assert_eq!(issue["detail"]["generation"], 1);

        // The database holds the token's SHA-256, never the token.
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, token_hash FROM api_tokens").fetch_all(&env.db().pool).await.unwrap();
        let hash = hex(&sha2::Sha256::digest(token.as_bytes()));
        assert_eq!(rows, vec![(issue["detail"]["token_id"].as_str().unwrap().to_owned(), hash)]);
        let mut dump = env.db().pool.acquire().await.unwrap();
        for table in ["api_tokens", "audit"] {
            let text: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT {} FROM {table}",
                if table == "audit" { "detail" } else { "id || token_hash || owner_email" }
            ))
            .fetch_all(&mut *dump)
            .await
            .unwrap();
            assert!(text.iter().all(|t| !t.contains(&token[4..]) && !t.contains(&secret)), "{table}");
        }
        drop(dump);

        // RFC 7009: revoked by the credential, once audited, then 200 whatever the token.
        let auth = basic(&id, &secret);
        let form = format!("token={token}&token_type_hint=access_token");
        for _ in 0..2 {
            let (s, headers, body) = post_form(&env, REVOKE, &form, &[("authorization", &auth)]).await;
            assert_eq!((s, &body), (StatusCode::OK, &json!({})));
            assert_eq!(headers["cache-control"], "no-store");
        }
        assert_eq!(list_status(&env, &token).await.0, StatusCode::UNAUTHORIZED);
        let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), Some(&env.admin_token), None).await;
        let revokes: Vec<&Value> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "credential.api_token_revoke")
            .collect();
        assert_eq!(revokes.len(), 1);
        assert_eq!(revokes[0]["actor"], format!("credential:{id}"));
        // Another credential cannot revoke it; a wrong secret is invalid_client.
        let live = grant(&env, &id, &secret).await;
        let (other, other_secret) = credential(&env, "other", ADMIN, &["embedding"]).await;
        let (s, _, _) =
            post_form(&env, REVOKE, &format!("token={live}"), &[("authorization", &basic(&other, &other_secret))])
                .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list_status(&env, &live).await.0, StatusCode::OK);
        let (s, _, body) =
            post_form(&env, REVOKE, &format!("token={live}"), &[("authorization", &basic(&id, &other_secret))]).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        let (s, _, body) = post_form(&env, REVOKE, "", &[("authorization", &auth)]).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
        env.finish().await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}
