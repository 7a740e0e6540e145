//! Properties (native and wasm32): sign→verify round-trips for any claims;
//! any single-byte change of a signed token is refused; rotation; replicas
//! that end with the newest records whatever the delivery order.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use embedgate_core::replica::{Admit, ReplicaMeta};
use embedgate_core::sync::SyncBody;
use embedgate_core::{
    sign, AccountType, Claims, ClientId, CredentialRecord, EdgeCredential, EdgeKey, EmbedContext, EmbedSecret, KeyRing,
    KeySet, OrgKey, OrgSlug, Owner, Policy, Privilege, SecretGeneration, Validation, VerifyError,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const NOW: i64 = 1_700_000_000;

fn record(client_id: &ClientId, generations: &[u32]) -> CredentialRecord {
    let owner = Owner { email: "admin@example.com".into(), account_type: AccountType::Admin };
    let mut record = CredentialRecord::new(client_id.clone(), "acme".parse().unwrap(), owner);
    record.generations = generations.to_vec();
    record
}

fn verify(token: &str, rec: &CredentialRecord, keys: &KeyRing) -> Result<embedgate_core::Identity, VerifyError> {
    Validation::default().verify(token, NOW, &EmbedContext::default(), |_| Some((rec, keys))).map(|v| v.identity())
}

fn runner() -> TestRunner {
    // Deterministic seed so a failure reproduces on both targets.
    TestRunner::new_with_rng(
        Config { cases: 128, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    )
}

#[test]
fn sign_then_verify_round_trips() {
    let cid = ClientId::generate().unwrap();
    let secret = EmbedSecret::generate().unwrap();
    let rec = record(&cid, &[1]);
    let keys = KeyRing::from_secret(&secret, 1);
    let strategy = (
        "[a-z0-9._%+-]{1,40}@[a-z0-9-]{1,20}\\.[a-z]{2,6}",
        "[!-~]{1,128}",
        -60i64..=60,
        1i64..=2_592_000,
        proptest::collection::vec("[^\\u{0}]{0,20}", 0..5),
        proptest::option::of(prop_oneof![Just(AccountType::Viewer), Just(AccountType::Admin)]),
    );
    runner()
        .run(&strategy, |(sub, jti, skew, ttl, teams, account_type)| {
            let mut claims = Claims::new(sub.clone(), NOW + skew, ttl).unwrap();
            claims.jti.clone_from(&jti);
            claims.exp = (NOW + skew).max(NOW - 60) + ttl.min(2_592_000 - 60);
            claims.iat = claims.exp - ttl.min(2_592_000 - 60);
            claims.teams = Some(teams.clone());
            claims.account_type = account_type;
            let token = sign(&claims, &cid, &secret).unwrap();
            let v = verify(&token, &rec, &keys).map_err(|e| TestCaseError::fail(format!("{e:?} for {claims:?}")))?;
            prop_assert_eq!(v.sub, sub);
            prop_assert_eq!(v.jti, jti);
            prop_assert_eq!(v.teams, teams);
            prop_assert_eq!(v.account_type, account_type);
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_single_byte_change_is_refused() {
    let cid = ClientId::generate().unwrap();
    let secret = EmbedSecret::generate().unwrap();
    let rec = record(&cid, &[1]);
    let keys = KeyRing::from_secret(&secret, 1);
    let mut claims = Claims::new("ana@example.com", NOW, 3600).unwrap();
    claims.teams = Some(vec!["sales".into()]);
    let token = sign(&claims, &cid, &secret).unwrap();
    assert!(verify(&token, &rec, &keys).is_ok());
    let strategy = (0..token.len(), any::<u8>());
    runner()
        .run(&strategy, |(i, b)| {
            let mut bytes = token.as_bytes().to_vec();
            prop_assume!(bytes[i] != b);
            bytes[i] = b;
            // Non-UTF-8 input cannot even reach verification as a &str.
            if let Ok(changed) = String::from_utf8(bytes) {
                prop_assert!(verify(&changed, &rec, &keys).is_err(), "accepted a change at byte {}", i);
            }
            Ok(())
        })
        .unwrap();
    // And exhaustively: every position, a few replacement characters.
    for i in 0..token.len() {
        for c in [b'A', b'a', b'0', b'_', b'-', b'.'] {
            let mut bytes = token.as_bytes().to_vec();
            if bytes[i] == c {
                continue;
            }
            bytes[i] = c;
            let changed = String::from_utf8(bytes).unwrap();
            assert!(verify(&changed, &rec, &keys).is_err(), "accepted {i}:{c}");
        }
    }
}

#[test]
fn rotation_keeps_both_live_secrets_until_the_old_one_is_retired() {
    let (org_key, edge_key) = (OrgKey::generate().unwrap(), EdgeKey::generate().unwrap());
    let org: OrgSlug = "acme".parse().unwrap();
    let cid = ClientId::generate().unwrap();
    let secret = |g| org_key.derive_embed_secret(&org, &cid, g);
    let (old, new) = (secret(1), secret(2));
    let claims = Claims::new("ana@example.com", NOW, 600).unwrap();
    let (t_old, t_new) = (sign(&claims, &cid, &old).unwrap(), sign(&claims, &cid, &new).unwrap());

    let before = record(&cid, &[1]);
    let rotated = record(&cid, &[2, 1]);
    let retired = record(&cid, &[2]);
    // The edge's view: each live secret wrapped by the admin, unwrapped with the edge key.
    let ring = |r: &CredentialRecord| {
        let wrapped: Vec<SecretGeneration> = r
            .generations
            .iter()
            .map(|&g| SecretGeneration::wrapped(g, edge_key.wrap_secret(&org, &cid, g, &secret(g)).unwrap()))
            .collect();
        KeyRing::unwrap(&KeySet::single(edge_key.clone()), &org, &cid, &wrapped).0
    };
    assert!(verify(&t_old, &before, &ring(&before)).is_ok());
    assert_eq!(verify(&t_new, &before, &ring(&before)).unwrap_err(), VerifyError::BadSignature);
    assert!(verify(&t_old, &rotated, &ring(&rotated)).is_ok());
    assert!(verify(&t_new, &rotated, &ring(&rotated)).is_ok());
    assert_eq!(verify(&t_old, &retired, &ring(&retired)).unwrap_err(), VerifyError::BadSignature);
    assert!(verify(&t_new, &retired, &ring(&retired)).is_ok());
}

#[test]
fn a_lookup_that_ignores_the_kid_cannot_verify_another_credential() {
    let (a, b) = (ClientId::generate().unwrap(), ClientId::generate().unwrap());
    let secret = EmbedSecret::generate().unwrap();
    let token = sign(&Claims::new("ana@example.com", NOW, 600).unwrap(), &a, &secret).unwrap();
    let rec_b = record(&b, &[1]);
    assert_eq!(verify(&token, &rec_b, &KeyRing::from_secret(&secret, 1)).unwrap_err(), VerifyError::UnknownClient);
}

fn versioned(client_id: &ClientId, version: u64, revoked: bool) -> EdgeCredential {
    EdgeCredential {
        client_id: client_id.clone(),
        owner: "admin@example.com".into(),
        privileges: [Privilege::Embedding].into(),
        secrets: vec![SecretGeneration { generation: 1, key: None, public_key: None }],
        policy: Policy::default(),
        revoked_at: revoked.then_some(NOW),
        version,
    }
}

/// However the messages carrying a record's versions arrive (late,
/// repeated, out of order), a replica that applies a record only when newer
/// ends with the newest: a revocation, once delivered, is never taken back.
#[test]
fn replicas_end_with_the_newest_record_whatever_the_delivery_order() {
    let id = ClientId::generate().unwrap();
    let deliveries = proptest::collection::vec((1u64..50, any::<bool>()), 1..40);
    runner()
        .run(&deliveries, |deliveries| {
            let mut held: Option<EdgeCredential> = None;
            for &(version, revoked) in &deliveries {
                let record = versioned(&id, version, revoked);
                if record.newer_than(held.as_ref().map(|h| h.version)) {
                    held = Some(record);
                }
            }
            let newest = deliveries.iter().map(|(v, _)| *v).max().unwrap();
            let held = held.unwrap();
            prop_assert_eq!(held.version, newest);
            // The first delivery of the newest version decides (the same version is the same record).
            let first = deliveries.iter().find(|(v, _)| *v == newest).unwrap();
            prop_assert_eq!(held.revoked_at.is_some(), first.1);
            Ok(())
        })
        .unwrap();
}

/// Whatever deltas arrive (any range, repeated, out of order), a replica's
/// version only moves forward, and only to the end of a delta that starts
/// at or before where it is.
#[test]
fn a_replica_version_only_moves_forward_through_admitted_deltas() {
    let deltas = proptest::collection::vec((0u64..30, 1u64..10, any::<bool>()), 1..60);
    runner()
        .run(&deltas, |deltas| {
            let mut meta = ReplicaMeta { lineage: "l".into(), ..ReplicaMeta::default() };
            for &(from, span, last) in &deltas {
                let body = SyncBody::Delta { from, to: from + span, last, orgs: vec![] };
                let before = meta.version;
                match meta.admit("l", &body) {
                    Admit::Proceed => {
                        prop_assert!(from <= before && before < from + span);
                        meta.commit("l", &body, 0);
                        prop_assert!(meta.version == before || (last && meta.version == from + span));
                    }
                    Admit::Current => prop_assert!(before >= from + span),
                    Admit::Gap => prop_assert!(before < from),
                    other => prop_assert!(false, "{:?}", other),
                }
                prop_assert!(meta.version >= before);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_leak_scanner_has_no_false_positives_on_look_alikes() {
    use embedgate_core::{looks_like_embed_secret, EMBED_SECRET_LEN};
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    // xorshift64: deterministic, and good enough to draw characters.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut pick = |alphabet: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(alphabet[usize::try_from(state % alphabet.len() as u64).unwrap()])
            })
            .collect()
    };
    for _ in 0..20_000 {
        // Random base64 of the same length, and the hardest look-alike: our own
        // prefix and alphabet with a random body (only the checksum tells).
        assert!(!looks_like_embed_secret(&pick(B64, EMBED_SECRET_LEN)));
        assert!(!looks_like_embed_secret(&format!("egs_{}", pick(B32, EMBED_SECRET_LEN - 4))));
    }
    for _ in 0..1_000 {
        assert!(looks_like_embed_secret(EmbedSecret::generate().unwrap().expose_secret()));
    }
}
