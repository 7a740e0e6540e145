//! Credentials that sign with a host app's key pair (ES256 over P-256,
//! EdDSA over Ed25519; issue 15): the admin API through
//! `tower::ServiceExt::oneshot` on a real SQLite file (and PostgreSQL when
//! `EMBEDGATE_TEST_POSTGRES_URL` is set). Create and rotate with a public JWK,
//! what the edges are sent verifies the private key's tokens and no other's,
//! bad JWKs are 422 and never 500, the org key's emergency rotation leaves
//! them alone, and the OAuth grant refuses them.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::{backends, Env, ADMIN, ORG};
use embedgate_core::jws::b64url_encode;
use embedgate_core::{
    sign_with_key, AccountType, Algorithm, Claims, ClientId, CredentialRecord, EdgeKey, EmbedContext, KeyRing, KeySet,
    OrgSlug, Owner, SigningJwk, Validation,
};
use serde_json::{json, Value};

fn creds() -> String {
    format!("/api/v1/orgs/{ORG}/credentials")
}

fn cred(id: &str, action: &str) -> String {
    format!("/api/v1/orgs/{ORG}/credentials/{id}/{action}")
}

/// The public JWK of `key` as a client sends it (with `alg` and `kid`, which are allowed).
fn public_jwk(key: &SigningJwk) -> Value {
    let mut jwk = serde_json::to_value(key.public()).unwrap();
    jwk["alg"] = key.algorithm().as_str().into();
    jwk["kid"] = "host-app-1".into();
    jwk
}

/// The private JWK's `d`, to look for where it must never be.
fn private_d(key: &SigningJwk) -> String {
    let private: Value = serde_json::from_str(&key.to_json()).unwrap();
    private["d"].as_str().unwrap().to_owned()
}

/// Creates a credential owned by the admin with `public_key` (and `privileges`); returns the answer.
async fn create_with_key(env: &Env, name: &str, key: &SigningJwk, privileges: &[&str]) -> Value {
    let body = json!({ "name": name, "owner": ADMIN, "privileges": privileges, "public_key": public_jwk(key) });
    let (s, created) = env.call("POST", &creds(), Some(&env.admin_token), Some(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    created
}

/// The `public_keys` a credential body should list for these (generation, key) pairs, current first.
fn listed(keys: &[(u32, &SigningJwk)]) -> Value {
    keys.iter()
        .map(|(generation, key)| {
            json!({
                "generation": generation,
                "algorithm": key.algorithm().as_str(),
                "thumbprint": key.public().thumbprint(),
            })
        })
        .collect()
}

/// Whether a token signed with `key` verifies against what an edge would be
/// sent for credential `client_id` (read as the edge reads it: `KeyRing::unwrap`).
async fn edge_accepts(env: &Env, client_id: &str, key: &SigningJwk) -> bool {
    let edge = EdgeKey::generate().unwrap();
    let sealer = embedgate_admin::store::export::ForEdge { keys: env.keys(), edge: &edge };
    let (records, _) = embedgate_admin::store::export::org_records(env.db(), &sealer, ORG).await.unwrap();
    let sent = records.into_iter().find(|r| r.client_id.as_str() == client_id).unwrap();
    assert!(sent.secrets.iter().all(|s| s.key.is_none() && s.public_key.is_some()), "public keys go unwrapped");
    let org: OrgSlug = ORG.parse().unwrap();
    let owner = Owner { email: ADMIN.into(), account_type: AccountType::Admin };
    let mut record = CredentialRecord::new(sent.client_id.clone(), org.clone(), owner);
    record.generations = sent.secrets.iter().map(|s| s.generation).collect();
    let (ring, failure) = KeyRing::unwrap(&KeySet::single(edge), &org, &sent.client_id, &sent.secrets);
    assert!(failure.is_none());
    let now = 1_800_000_000;
    let token = sign_with_key(&Claims::new("ana@acme.test", now, 600).unwrap(), &record.client_id, key).unwrap();
    Validation::default()
        .verify(&token, now, &EmbedContext::default(), |kid| {
            (kid == record.client_id.as_str()).then_some((&record, &ring))
        })
        .is_ok()
}

/// The org's newest audit entry.
async fn last_audit(env: &Env) -> Value {
    let (s, page) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit?limit=1"), Some(&env.admin_token), None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

/// Rows of `credential_public_keys` for `client_id`.
async fn stored_keys(env: &Env, client_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM credential_public_keys WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(&env.db().pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_credential_created_with_a_public_key_has_no_secret_and_verifies_its_private_keys_tokens() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        for (name, alg) in [("es", Algorithm::Es256), ("ed", Algorithm::EdDsa)] {
            let key = SigningJwk::generate(alg).unwrap();
            let created = create_with_key(&env, name, &key, &["embedding"]).await;
            assert!(created.get("secret").is_none(), "{created}");
            assert_eq!(created["generation"], 1);
            assert_eq!(created["algorithm"], alg.as_str());
            assert_eq!(created["live_generations"], json!([1]));
            assert_eq!(created["public_keys"], listed(&[(1, &key)]));
            let id = created["client_id"].as_str().unwrap();
            let (s, got) = env.call("GET", &format!("{}/{id}", creds()), Some(&env.admin_token), None).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!((&got["algorithm"], &got["public_keys"]), (&created["algorithm"], &created["public_keys"]));

            // The edges verify the host app's tokens, and no other key's.
            assert!(edge_accepts(&env, id, &key).await, "{alg}");
            let stranger = SigningJwk::generate(alg).unwrap();
            assert!(!edge_accepts(&env, id, &stranger).await, "{alg}: another key");
            let other_alg =
                SigningJwk::generate(if alg == Algorithm::Es256 { Algorithm::EdDsa } else { Algorithm::Es256 })
                    .unwrap();
            assert!(!edge_accepts(&env, id, &other_alg).await, "{alg}: another algorithm");

            // Audited with its algorithm and thumbprint, never the key.
            let entry = last_audit(&env).await;
            assert_eq!(entry["action"], "credential.create");
            assert_eq!(entry["detail"]["algorithm"], alg.as_str());
            assert_eq!(entry["detail"]["thumbprint"], key.public().thumbprint());
            let x = key.public().canonical_json();
            let x = serde_json::from_str::<Value>(&x).unwrap()["x"].as_str().unwrap().to_owned();
            assert!(!entry.to_string().contains(&x), "{entry}");
        }
        // A credential with a generated secret says so.
        let secret = env.create_credential("secret").await;
        assert!(secret["secret"].as_str().unwrap().starts_with("egs_"));
        assert_eq!((&secret["algorithm"], &secret["public_keys"]), (&json!("HS256"), &json!([])));
        // Every credential of the list says how it signs.
        let (_, list) = env.call("GET", &creds(), Some(&env.admin_token), None).await;
        let mut algs: Vec<&str> =
            list["credentials"].as_array().unwrap().iter().map(|c| c["algorithm"].as_str().unwrap()).collect();
        algs.sort_unstable();
        assert_eq!(algs, ["ES256", "EdDSA", "HS256"], "one of each (created in the same second: any order)");
        env.finish().await;
    }
}

#[tokio::test]
async fn rotation_keeps_both_public_keys_live_until_the_previous_is_retired() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let first = SigningJwk::generate(Algorithm::Es256).unwrap();
        let created = create_with_key(&env, "rotating", &first, &["embedding"]).await;
        let id = created["client_id"].as_str().unwrap().to_owned();

        // A public-key credential needs its new key; the current one again is a conflict.
        let (s, e) = env.call("POST", &cred(&id, "rotate"), t, None).await;
        assert_eq!(
            (s, e["error"].as_str(), e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input"), Some("public_key"))
        );
        assert!(
            e["message"].as_str().unwrap().contains("required for a credential that signs with a public key"),
            "{e}"
        );
        let (s, e) = env.call("POST", &cred(&id, "rotate"), t, Some(&json!({}))).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("public_key")));
        let (s, e) =
            env.call("POST", &cred(&id, "rotate"), t, Some(&json!({ "public_key": public_jwk(&first) }))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("same_public_key")), "{e}");

        // To another algorithm: both keys live, current first, no secret.
        let second = SigningJwk::generate(Algorithm::EdDsa).unwrap();
        let (s, rotated) =
            env.call("POST", &cred(&id, "rotate"), t, Some(&json!({ "public_key": public_jwk(&second) }))).await;
        assert_eq!(s, StatusCode::OK, "{rotated}");
        assert!(rotated.get("secret").is_none(), "{rotated}");
        assert_eq!((&rotated["generation"], &rotated["algorithm"]), (&json!(2), &json!("EdDSA")));
        assert_eq!(rotated["live_generations"], json!([2, 1]));
        assert_eq!(rotated["public_keys"], listed(&[(2, &second), (1, &first)]));
        assert!(edge_accepts(&env, &id, &first).await && edge_accepts(&env, &id, &second).await);
        let entry = last_audit(&env).await;
        assert_eq!(entry["action"], "credential.rotate");
        assert_eq!(
            entry["detail"],
            json!({"generation": 2, "algorithm": "EdDSA", "thumbprint": second.public().thumbprint()})
        );

        // Two live: retire first, as for secrets.
        let third = SigningJwk::generate(Algorithm::Es256).unwrap();
        let (s, e) =
            env.call("POST", &cred(&id, "rotate"), t, Some(&json!({ "public_key": public_jwk(&third) }))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("retire_first")));
        let (s, retired) = env.call("POST", &cred(&id, "retire-previous"), t, None).await;
        assert_eq!(s, StatusCode::OK, "{retired}");
        assert_eq!(retired["public_keys"], listed(&[(2, &second)]));
        assert_eq!(stored_keys(&env, &id).await, 1, "a retired key is not kept");
        assert!(!edge_accepts(&env, &id, &first).await, "the retired key no longer verifies");
        assert!(edge_accepts(&env, &id, &second).await);
        // And back to ES256.
        let (s, back) =
            env.call("POST", &cred(&id, "rotate"), t, Some(&json!({ "public_key": public_jwk(&third) }))).await;
        assert_eq!((s, &back["algorithm"]), (StatusCode::OK, &json!("ES256")), "{back}");

        // A secret credential rotates to a secret, never to a key.
        let secret = env.create_credential("secret").await;
        let sid = secret["client_id"].as_str().unwrap();
        let (s, e) =
            env.call("POST", &cred(sid, "rotate"), t, Some(&json!({ "public_key": public_jwk(&third) }))).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("public_key")));
        assert!(e["message"].as_str().unwrap().contains("this credential signs with a generated secret"), "{e}");
        let (s, rotated) = env.call("POST", &cred(sid, "rotate"), t, Some(&json!({}))).await;
        assert_eq!(s, StatusCode::OK, "{rotated}");
        assert!(rotated["secret"].as_str().unwrap().starts_with("egs_"));
        assert_eq!(rotated["public_keys"], json!([]));

        // Revoked, then deleted: its keys go with it.
        let (s, _) = env.call("POST", &cred(&id, "revoke"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, e) =
            env.call("POST", &cred(&id, "rotate"), t, Some(&json!({ "public_key": public_jwk(&first) }))).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("credential_revoked")));
        let (s, _) = env.call("DELETE", &format!("{}/{id}", creds()), t, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(stored_keys(&env, &id).await, 0);
        env.finish().await;
    }
}

/// A P-256 JWK of these coordinates (32 bytes each).
fn p256(x: &[u8; 32], y: &[u8; 32]) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": b64url_encode(x), "y": b64url_encode(y)})
}

#[tokio::test]
async fn bad_public_keys_are_refused_by_name_and_never_500() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let es = SigningJwk::generate(Algorithm::Es256).unwrap();
        let ed = SigningJwk::generate(Algorithm::EdDsa).unwrap();
        let private: Value = serde_json::from_str(&es.to_json()).unwrap();
        let mut wrong_alg = public_jwk(&es);
        wrong_alg["alg"] = "EdDSA".into();
        let mut for_encryption = public_jwk(&es);
        for_encryption["use"] = "enc".into();
        let mut ed_with_y = public_jwk(&ed);
        ed_with_y["y"] = ed_with_y["x"].clone();
        let mut oversize = public_jwk(&es);
        oversize["kid"] = "k".repeat(3000).into();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let cases: Vec<(&str, Value, &str)> = vec![
            ("private key", private, "private key"),
            ("RSA", json!({"kty": "RSA", "n": "sXch", "e": "AQAB"}), "RSA"),
            ("oct", json!({"kty": "oct", "k": "c2VjcmV0"}), "symmetric"),
            ("P-384", json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}), "P-256"),
            ("X25519", json!({"kty": "OKP", "crv": "X25519", "x": "AA"}), "Ed25519"),
            ("off the curve", p256(&[7; 32], &[9; 32]), "not a valid public key"),
            ("short coordinate", json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}), "32 bytes"),
            ("missing y", json!({"kty": "EC", "crv": "P-256", "x": b64url_encode(&[1; 32])}), "\"y\" is missing"),
            (
                "weak Ed25519",
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(&identity)}),
                "not a valid public key",
            ),
            ("wrong alg", wrong_alg, "alg"),
            ("use enc", for_encryption, "use"),
            ("Ed25519 with y", ed_with_y, "no y"),
            ("oversize", oversize, "longer than 2048"),
            ("garbage object", json!({"hello": "world"}), "kty"),
            ("number member", json!({"kty": "EC", "crv": "P-256", "x": 424_242, "y": "a"}), "not a JWK"),
            ("a string", json!("egs_looks_like_a_secret_but_is_a_string"), "not a JWK"),
            ("JSON text in a string", json!(public_jwk(&es).to_string()), "not a JWK"),
            ("an array", json!([public_jwk(&es)]), "not a JWK"),
            ("a number", json!(12), "not a JWK"),
            ("true", json!(true), "not a JWK"),
        ];
        let rotating = create_with_key(&env, "rotating", &ed, &["embedding"]).await;
        let rid = rotating["client_id"].as_str().unwrap().to_owned();
        for (what, jwk, says) in &cases {
            let body = json!({ "name": format!("bad {what}"), "owner": ADMIN, "privileges": ["embedding"], "public_key": jwk });
            for (path, body) in [(creds(), body), (cred(&rid, "rotate"), json!({ "public_key": jwk }))] {
                let (s, e) = env.call("POST", &path, t, Some(&body)).await;
                assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what} {path}: {e}");
                assert_eq!(
                    (e["error"].as_str(), e["field"].as_str()),
                    (Some("invalid_input"), Some("public_key")),
                    "{what}"
                );
                let message = e["message"].as_str().unwrap();
                assert!(message.starts_with("public_key is refused: ") && message.contains(says), "{what}: {message}");
                for echoed in ["424242", "egs_looks", "sXch", "c2VjcmV0", &private_d(&es)] {
                    assert!(!message.contains(echoed), "{what}: the message echoes the input: {message}");
                }
            }
        }
        // Nothing was made or changed, and the refused private key was kept nowhere.
        let (_, list) = env.call("GET", &creds(), t, None).await;
        assert_eq!(list["credentials"].as_array().unwrap().len(), 1);
        assert_eq!(list["credentials"][0]["live_generations"], json!([1]));
        let d = private_d(&es);
        let logs = String::from_utf8_lossy(&common::captured_logs().0.lock().unwrap()).into_owned();
        assert!(!logs.contains(&d), "the private key reached the logs");
        for file in env.sqlite_files() {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.windows(d.len()).any(|w| w == d.as_bytes()), "{} holds the private key", file.display());
        }
        env.finish().await;
    }
}

#[tokio::test]
async fn the_org_key_emergency_rotation_leaves_public_key_credentials_alone() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let first = SigningJwk::generate(Algorithm::Es256).unwrap();
        let second = SigningJwk::generate(Algorithm::EdDsa).unwrap();
        let public = create_with_key(&env, "public", &first, &["embedding"]).await;
        let id = public["client_id"].as_str().unwrap().to_owned();
        let (s, _) =
            env.call("POST", &cred(&id, "rotate"), t, Some(&json!({ "public_key": public_jwk(&second) }))).await;
        assert_eq!(s, StatusCode::OK);
        let secret = env.create_credential("secret").await;

        let (s, done) =
            env.call("POST", &format!("/api/v1/orgs/{ORG}/keys/rotate"), t, Some(&json!({ "confirm": ORG }))).await;
        assert_eq!(s, StatusCode::OK, "{done}");
        let rotated: Vec<&str> =
            done["credentials"].as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
        assert_eq!(rotated, [secret["client_id"].as_str().unwrap()]);
        let untouched = done["public_key"].as_array().unwrap();
        assert_eq!(untouched.len(), 1);
        assert_eq!(untouched[0]["client_id"], id.as_str());
        assert_eq!(untouched[0]["live_generations"], json!([2, 1]));
        assert!(untouched[0].get("secret").is_none());
        assert_eq!(
            last_audit(&env).await["detail"],
            json!({"epoch": 2, "credentials": 1, "public_key_credentials": 1})
        );
        // Both keys still verify at the edge.
        assert!(edge_accepts(&env, &id, &first).await && edge_accepts(&env, &id, &second).await);
        env.finish().await;
    }
}

#[tokio::test]
async fn the_oauth_grant_refuses_a_public_key_credential_as_invalid_client() {
    use base64::Engine as _;
    for backend in backends() {
        let env = Env::new(&backend).await;
        let key = SigningJwk::generate(Algorithm::Es256).unwrap();
        let created = create_with_key(&env, "api", &key, &["embedding", "api"]).await;
        let id = created["client_id"].as_str().unwrap();
        let form = "application/x-www-form-urlencoded";
        let guess = embedgate_core::EmbedSecret::generate().unwrap();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{}", guess.expose_secret()))
        );
        let (s, headers, body) = env
            .call_with(
                "POST",
                "/api/v1/oauth/token",
                None,
                Some(("grant_type=client_credentials", form)),
                None,
                &[("authorization", &basic)],
            )
            .await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("signs with a public key"), "{body}");
        assert!(headers.contains_key("www-authenticate"));
        let by_form = format!("grant_type=client_credentials&client_id={id}&client_secret=anything");
        let (s, headers, body) =
            env.call_with("POST", "/api/v1/oauth/token", None, Some((&by_form, form)), None, &[]).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("private_key_jwt"), "{body}");
        assert!(!headers.contains_key("www-authenticate"));
        // Unknown to a ClientId that parses nowhere else: the usual refusal.
        let unknown = ClientId::generate().unwrap();
        let by_form =
            format!("grant_type=client_credentials&client_id={unknown}&client_secret={}", guess.expose_secret());
        let (s, _, body) = env.call_with("POST", "/api/v1/oauth/token", None, Some((&by_form, form)), None, &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(!body["error_description"].as_str().unwrap().contains("public key"), "{body}");
        env.finish().await;
    }
}
