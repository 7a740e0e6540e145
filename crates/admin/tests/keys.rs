//! The key hierarchy on real databases (SQLite, and PostgreSQL when
//! `EMBEDGATE_TEST_POSTGRES_URL` is set): org keys wrapped under the master
//! key; `rekey` (whole, interrupted and resumed, then the retired key
//! refused); the upgrade of a database from before the hierarchy (its v1
//! secrets keep verifying); the per-org emergency rotation; and what the
//! database alone holds. A secret "verifies" here when a token signed with
//! it passes against what an edge would be sent (wrapped under an edge key,
//! unwrapped as the edge does).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use axum::http::StatusCode;
use common::{backends, Env, ADMIN, ORG};
use embedgate_admin::store::export::{org_records, ForEdge};
use embedgate_admin::store::keys::{self, Keys};
use embedgate_admin::store::{Store, StoreError};
use embedgate_core::keys::NamedKey;
use embedgate_core::{
    sign, Claims, ClientId, CredentialRecord, EdgeKey, EmbedContext, EmbedSecret, Kdf, KeyRing, KeySet, MasterKey,
    OrgSlug, Owner, Validation,
};
use serde_json::{json, Value};

/// Whether a token signed with `secret` for `client_id` of `org` verifies
/// against what an edge holding `edge` is sent by an admin with `keys`.
async fn verifies(db: &Store, keys: &Keys, org: &str, client_id: &str, secret: &str) -> bool {
    let edge = EdgeKey::generate().unwrap();
    let (records, _) = org_records(db, &ForEdge { keys, edge: &edge }, org).await.unwrap();
    let Some(sent) = records.into_iter().find(|r| r.client_id.as_str() == client_id) else { return false };
    let slug: OrgSlug = org.parse().unwrap();
    let owner = Owner { email: ADMIN.into(), account_type: embedgate_core::AccountType::Admin };
    let mut record = CredentialRecord::new(sent.client_id.clone(), slug.clone(), owner);
    record.generations = sent.secrets.iter().map(|s| s.generation).collect();
    let (ring, failure) = KeyRing::unwrap(&KeySet::single(edge), &slug, &sent.client_id, &sent.secrets);
    assert!(failure.is_none(), "{failure:?}");
    let now = 1_800_000_000;
    let claims = Claims::new("ana@acme.test", now, 600).unwrap();
    let token = sign(&claims, &sent.client_id, &EmbedSecret::new(secret.to_owned())).unwrap();
    Validation::default().verify(&token, now, &EmbedContext::default(), |_| Some((&record, &ring))).is_ok()
}

async fn create(env: &Env, name: &str) -> (String, String) {
    let created = env.create_credential(name).await;
    (created["client_id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

fn keys_of(masters: &[&MasterKey]) -> Keys {
    Keys::new(KeySet::from_keys(masters.iter().map(|k| (*k).clone()).collect()).unwrap())
}

async fn holders(db: &Store) -> Vec<(String, i64)> {
    keys::holders(db).await.unwrap().into_iter().map(|(id, n)| (id.to_string(), n)).collect()
}

#[tokio::test]
async fn org_keys_are_wrapped_under_the_master_key_and_never_stored_in_the_clear() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let (id, secret) = create(&env, "portal").await;
        assert!(verifies(env.db(), env.keys(), ORG, &id, &secret).await);
        // The org's row holds its key wrapped under the master key, named by its id.
        let (wrapped, master): (String, String) =
            sqlx::query_as("SELECT key_wrapped, key_master FROM orgs WHERE slug = $1")
                .bind(ORG)
                .fetch_one(&env.db().pool)
                .await
                .unwrap();
        assert_eq!(master, env.master.id().to_string());
        assert!(wrapped.starts_with(&format!("{master}.")), "{wrapped}");
        // The database alone: no secret, and nothing that derives one. The
        // derivation key is not in any row (the wrapped blob is ciphertext:
        // it derives another secret than the real one).
        let slug: OrgSlug = ORG.parse().unwrap();
        let mut conn = env.db().pool.acquire().await.unwrap();
        let org_key = env.keys().org_key(&mut conn, &slug, 1).await.unwrap();
        drop(conn);
        assert_eq!(org_key.derive_embed_secret(&slug, &id.parse().unwrap(), 1).expose_secret(), secret);
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT slug, key_wrapped FROM orgs").fetch_all(&env.db().pool).await.unwrap();
        for (_, w) in rows {
            assert!(!w.unwrap().contains(&secret));
        }
        // Another master key opens nothing, and says which key it would need.
        let stranger = keys_of(&[&MasterKey::generate().unwrap()]);
        let err = keys::prepare(env.db(), &stranger).await.unwrap_err();
        assert!(matches!(err, StoreError::MasterKeyMissing { orgs: 1, .. }), "{err}");
        assert!(err.to_string().contains(&env.master.id().to_string()), "{err}");
        env.finish().await;
    }
}

#[tokio::test]
async fn rekey_rewraps_every_org_key_then_the_old_master_key_is_refused() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test").await.unwrap();
        let (id, secret) = create(&env, "portal").await;
        let old = env.master.clone();
        let new = MasterKey::generate().unwrap();

        let done = keys::rekey(env.db(), &KeySet::single(old.clone()), &new, |_| {}).await.unwrap();
        assert_eq!((done.rewrapped, done.total), (2, 2));
        assert_eq!(done.retired, [old.id()]);
        assert_eq!(holders(env.db()).await, [(new.id().to_string(), 2)]);

        // The admin restarted with the new key: the same secret verifies (org keys unchanged).
        let with_new = keys_of(&[&new]);
        keys::prepare(env.db(), &with_new).await.unwrap();
        assert!(verifies(env.db(), &with_new, ORG, &id, &secret).await, "an existing secret after rekey");
        // With the retired key: refused, naming the key that replaced it.
        let err = keys::prepare(env.db(), &keys_of(&[&old])).await.unwrap_err();
        assert!(matches!(err, StoreError::MasterKeyRetired { .. }), "{err}");
        assert!(err.to_string().contains(&new.id().to_string()), "{err}");
        // Even alongside the new one, and as the target of another rekey.
        assert!(keys::prepare(env.db(), &keys_of(&[&new, &old])).await.is_err());
        assert!(matches!(
            keys::rekey(env.db(), &KeySet::single(new.clone()), &old, |_| {}).await,
            Err(StoreError::MasterKeyRetired { .. })
        ));
        // Each org's audit log says its key was re-wrapped (and by which tool).
        let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), Some(&env.admin_token), None).await;
        let entry = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "org.key_rewrap").unwrap();
        assert_eq!(entry["actor"], "embedgate-rekey");
        assert_eq!(entry["detail"]["master_key"]["to"], new.id().to_string());
        env.finish().await;
    }
}

#[tokio::test]
async fn an_interrupted_rekey_leaves_both_keys_needed_and_resumes() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        // More orgs than one batch (200), so the run can stop in between.
        embedgate_admin::store::bulk::load(env.db(), env.keys(), "bulk", 450, 1, |_| {}).await.unwrap();
        let (id, secret) = create(&env, "portal").await;
        let (old, new) = (env.master.clone(), MasterKey::generate().unwrap());

        // Interrupted right after the first batch commits (the future is dropped, as a kill would).
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut stop = Some(stop);
        let old_set = KeySet::single(old.clone());
        // The run has its own pool, closed when it is interrupted, as a killed
        // `embedgate rekey` process's connections go with it (in one process a
        // dropped future's connection may still finish its statement and roll
        // back after the next writer asked for the lock: one CI run saw
        // "database is locked").
        let process = embedgate_admin::store::open(&env.url).await.unwrap();
        let run = keys::rekey(&process, &old_set, &new, move |_| {
            if let Some(s) = stop.take() {
                let _ = s.send(());
            }
        });
        tokio::select! {
            r = run => panic!("the run finished before it could be interrupted: {r:?}"),
            _ = stopped => {}
        }
        process.pool.close().await;
        let split = holders(env.db()).await;
        assert_eq!(split.len(), 2, "some orgs moved, some not: {split:?}");
        // Neither key alone opens every org key now; both do (the admin serves through the change).
        assert!(matches!(keys::prepare(env.db(), &keys_of(&[&old])).await, Err(StoreError::MasterKeyMissing { .. })));
        assert!(matches!(keys::prepare(env.db(), &keys_of(&[&new])).await, Err(StoreError::MasterKeyMissing { .. })));
        let both = keys_of(&[&new, &old]);
        keys::prepare(env.db(), &both).await.unwrap();
        assert!(verifies(env.db(), &both, ORG, &id, &secret).await, "mid-rekey, with both keys");

        // Run again with only the new key configured as current (the old one
        // still configured beside it): it carries on where it stopped.
        let done = keys::rekey(env.db(), &KeySet::single(old.clone()), &new, |_| {}).await.unwrap();
        assert!(done.rewrapped > 0 && done.rewrapped < 451, "{done:?}");
        assert_eq!(holders(env.db()).await, [(new.id().to_string(), 451)]);
        assert_eq!(done.retired, [old.id()]);
        let with_new = keys_of(&[&new]);
        keys::prepare(env.db(), &with_new).await.unwrap();
        assert!(verifies(env.db(), &with_new, ORG, &id, &secret).await);
        assert!(matches!(keys::prepare(env.db(), &keys_of(&[&old])).await, Err(StoreError::MasterKeyRetired { .. })));
        env.finish().await;
    }
}

#[tokio::test]
async fn a_database_from_before_the_hierarchy_is_upgraded_and_its_secrets_keep_verifying() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let legacy = MasterKey::generate().unwrap();
        // The old shape: an org without a key, a v1 credential rotated once
        // (two live secrets derived from the master key), and the master key's check value.
        let db = env.db();
        sqlx::query("INSERT INTO orgs (slug, created_at) VALUES ('oldco', 0)").execute(&db.pool).await.unwrap();
        sqlx::query(
            "INSERT INTO members (org, email, account_type, status, created_at) \
             VALUES ('oldco', 'admin@acme.test', 'admin', 'active', 0)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let id = ClientId::generate().unwrap();
        sqlx::query(
            "INSERT INTO credentials (client_id, org, name, owner_email, privileges, created_at, created_by, kdf, \
             current_generation, previous_generation) \
             VALUES ($1, 'oldco', 'legacy', 'admin@acme.test', '[\"embedding\"]', 0, 'x', 'v1', 2, 1)",
        )
        .bind(id.as_str())
        .execute(&db.pool)
        .await
        .unwrap();
        let check = {
            use sha2::{Digest, Sha256};
            let digest = Sha256::new()
                .chain_update(b"embedgate/master-key-check\0")
                .chain_update(legacy.expose_bytes())
                .finalize();
            digest.iter().take(16).fold(String::new(), |mut s, b| {
                use std::fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            })
        };
        sqlx::query("INSERT INTO settings (name, value) VALUES ('master_key_check', $1)")
            .bind(&check)
            .execute(&db.pool)
            .await
            .unwrap();
        let v1 = |g| legacy.derive_v1_embed_secret(Kdf::V1, &id, g).unwrap().expose_secret().to_owned();

        // Another key is refused, as before the hierarchy.
        assert!(matches!(
            keys::prepare(db, &keys_of(&[&MasterKey::generate().unwrap()])).await,
            Err(StoreError::MasterKeyMismatch)
        ));
        // The upgrade runs with the old master key (env.master keys the other orgs; both configured).
        let both = keys_of(&[&env.master, &legacy]);
        let prepared = keys::prepare(db, &both).await.unwrap();
        assert_eq!((prepared.orgs_keyed, prepared.secrets_sealed), (1, 2));
        assert!(verifies(db, &both, "oldco", id.as_str(), &v1(2)).await, "the current v1 secret");
        assert!(verifies(db, &both, "oldco", id.as_str(), &v1(1)).await, "the previous v1 secret");
        // The sealed secrets are ciphertext: neither appears in the row.
        let (cur, prev): (String, String) =
            sqlx::query_as("SELECT sealed_current, sealed_previous FROM credentials WHERE client_id = $1")
                .bind(id.as_str())
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert!(!cur.contains(&v1(2)) && !prev.contains(&v1(1)));
        // Idempotent; and once upgraded the legacy key is no longer needed at all.
        assert_eq!(keys::prepare(db, &both).await.unwrap(), keys::Prepared::default());
        let only_new = keys_of(&[&env.master]);
        keys::prepare(db, &only_new).await.unwrap();
        assert!(verifies(db, &only_new, "oldco", id.as_str(), &v1(2)).await);
        // Retiring the previous secret drops it; a rotation derives the next from the org key.
        let mut change = db.change("oldco", "admin@acme.test").await.unwrap();
        change.retire_previous(&id).await.unwrap();
        change.commit(embedgate_admin::store::Event::PreviousSecretRetired { client_id: id.clone() }).await.unwrap();
        assert!(!verifies(db, &only_new, "oldco", id.as_str(), &v1(1)).await);
        let mut change = db.change("oldco", "admin@acme.test").await.unwrap();
        let rotated = change.rotate_credential(&id, None, 1_700_000_000).await.unwrap();
        let new_secret = change.current_secret(&only_new, &rotated).await.unwrap();
        change
            .commit(embedgate_admin::store::Event::CredentialRotated {
                client_id: id.clone(),
                generation: 3,
                algorithm: embedgate_core::Algorithm::Hs256,
                thumbprint: None,
            })
            .await
            .unwrap();
        assert!(verifies(db, &only_new, "oldco", id.as_str(), new_secret.expose_secret()).await, "v2 current");
        assert!(verifies(db, &only_new, "oldco", id.as_str(), &v1(2)).await, "sealed v1 now previous");
        env.finish().await;
    }
}

#[tokio::test]
#[allow(clippy::many_single_char_names, reason = "three credentials a, b, c and their secrets")]
async fn an_emergency_rotation_gives_every_credential_a_new_secret_and_kills_the_old_ones() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let t = Some(env.admin_token.as_str());
        let (a, a_secret) = create(&env, "a").await;
        let (b, b_secret) = create(&env, "b").await;
        let (s, rotated) = env.call("POST", &format!("/api/v1/orgs/{ORG}/credentials/{b}/rotate"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        let b_second = rotated["secret"].as_str().unwrap().to_owned();
        let (c, c_secret) = create(&env, "c").await;
        let (s, _) = env.call("POST", &format!("/api/v1/orgs/{ORG}/credentials/{c}/revoke"), t, None).await;
        assert_eq!(s, StatusCode::OK);
        embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test").await.unwrap();
        let version_before = env.db().state_version().await.unwrap();

        // Only an admin of the org, and only when confirmed.
        let path = format!("/api/v1/orgs/{ORG}/keys/rotate");
        let (s, e) = env.call("POST", &path, t, Some(&json!({}))).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("confirm")));
        let (s, _) = env.call("POST", &path, None, Some(&json!({"confirm": ORG}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, body) = env.call("POST", &path, t, Some(&json!({"confirm": ORG}))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["epoch"], 2);
        let shown: Vec<&Value> = body["credentials"].as_array().unwrap().iter().collect();
        assert_eq!(shown.len(), 2, "the live credentials, each with its new secret");
        assert_eq!(body["revoked"].as_array().unwrap().len(), 1);
        let new_of = |id: &str| {
            let c = shown.iter().find(|c| c["client_id"] == id).unwrap();
            assert_eq!(c["live_generations"].as_array().unwrap().len(), 1, "only the new secret is live");
            c["secret"].as_str().unwrap().to_owned()
        };
        let (a_new, b_new) = (new_of(&a), new_of(&b));
        for old in [&a_secret, &b_secret, &b_second, &a_new] {
            assert!(!b_new.is_empty() && old != &b_new);
        }
        // The old secrets are dead, the new ones live, once the edges have the change.
        let keys = env.keys();
        assert!(!verifies(env.db(), keys, ORG, &a, &a_secret).await);
        assert!(!verifies(env.db(), keys, ORG, &b, &b_secret).await);
        assert!(!verifies(env.db(), keys, ORG, &b, &b_second).await);
        assert!(verifies(env.db(), keys, ORG, &a, &a_new).await);
        assert!(verifies(env.db(), keys, ORG, &b, &b_new).await);
        assert!(!verifies(env.db(), keys, ORG, &c, &c_secret).await, "the revoked one stays dead");
        // One change, pushed like any other: every credential of the org is in the delta.
        let after = env.db().state_version().await.unwrap();
        assert_eq!(after, version_before + 1);
        let changed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM changes WHERE version = $1 AND kind = 'credential'")
                .bind(after)
                .fetch_one(&env.db().pool)
                .await
                .unwrap();
        assert_eq!(changed, 3);
        // Audited, and another org is untouched.
        let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), t, None).await;
        let entry = &audit["items"][0];
        assert_eq!((entry["action"].as_str(), entry["actor"].as_str()), (Some("org.key_rotate"), Some(ADMIN)));
        assert_eq!(entry["detail"], json!({"epoch": 2, "credentials": 3, "public_key_credentials": 0}));
        assert!(!entry.to_string().contains(&a_new));
        let epoch: i64 = sqlx::query_scalar("SELECT key_epoch FROM orgs WHERE slug = 'globex'")
            .fetch_one(&env.db().pool)
            .await
            .unwrap();
        assert_eq!(epoch, 1);
        env.finish().await;
    }
}

/// The CLI end to end: `init` (master key generated into the data dir),
/// `rekey --new-key-env` (the data dir's key file replaced), then `serve`
/// with the retired key refuses with a clear message and exit code 2.
#[test]
fn the_rekey_command_replaces_the_key_file_and_serve_refuses_the_retired_key() {
    const BIN: &str = env!("CARGO_BIN_EXE_embedgate");
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let cmd = || {
        let mut c = Command::new(BIN);
        c.env("EMBEDGATE_DATA_DIR", &data)
            .env_remove("EMBEDGATE_DATABASE_URL")
            .env_remove("EMBEDGATE_MASTER_KEY")
            .env_remove("NEW_MASTER");
        c
    };
    let out = cmd().args(["init", "--org", "acme", "--admin-email", "admin@acme.test"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let old = std::fs::read_to_string(data.join("master.key")).unwrap().trim().to_owned();

    // No variable, an empty one, a malformed key: usage errors, nothing changed.
    let out = cmd().args(["rekey", "--new-key-env", "NEW_MASTER"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NEW_MASTER is not set"));
    let out = cmd().args(["rekey", "--new-key-env", "NEW_MASTER"]).env("NEW_MASTER", "egm_typo").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(data.join("master.key")).unwrap().trim(), old);

    let new = MasterKey::generate().unwrap().to_printable().to_string();
    let out = cmd().args(["rekey", "--new-key-env", "NEW_MASTER"]).env("NEW_MASTER", &new).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rewrapped"], 1);
    assert_eq!(std::fs::read_to_string(data.join("master.key")).unwrap().trim(), new, "the key file holds the new key");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&new) && !stdout.contains(&old), "the report shows no key");

    // serve with the retired key: refused before listening.
    let out = cmd().args(["serve", "--listen", "127.0.0.1:0"]).env("EMBEDGATE_MASTER_KEY", &old).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was retired by `embedgate rekey`"), "{stderr}");
    assert!(!stderr.contains(&old) && !stderr.contains(&new), "{stderr}");
    // Running rekey again with the same new key: nothing left to do, still fine.
    let out = cmd().args(["rekey", "--new-key-env", "NEW_MASTER"]).env("NEW_MASTER", &new).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rewrapped"], 0);
}
