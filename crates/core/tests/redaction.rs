//! `Debug` of every secret-bearing type of the core is redacted (native and wasm32).
//!
//! The secret-bearing types are [`EmbedSecret`], [`MasterKey`], [`SyncKey`],
//! [`Hs256Key`], [`KeyRing`] (a list of `Hs256Key`s) and [`EdgeVerifier`]
//! (the master key, the session key and every credential's key ring). None
//! of them implements `Display`, so `{:?}` / `{:#?}` is the only formatting a
//! log line could reach; each must show a `<redacted>` marker and none of:
//! the printable form, the raw key bytes as hex (either case), base64,
//! base64url, or a Rust byte-array rendering (`[1, 2, …]`).
//!
//! Types that carry no key material and are not tested here: [`Session`] (an
//! identity; its cookie is sealed by the verifier's session key),
//! `sync::Sealed`/`SyncRequest`/`SyncAck` (bodies and tags, never the sync
//! key), [`OfflineCheck`] (a description; the secret is passed on its own),
//! `CredentialRecord` (generation numbers only). The values derived from a
//! secret that do reach text (the [`KeyError`] of a mistyped key, a
//! [`VerifyError`] of a wrong key, an `OfflineCheck` report) are checked not
//! to echo it either.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use embedgate_core::jws::Hs256Key;
use embedgate_core::{
    sign, AccountType, Claims, ClientId, CredentialRecord, EdgeKey, EdgeVerifier, EmbedContext, EmbedSecret, KeyRing,
    KeySet, MasterKey, OfflineCheck, OrgKey, Owner, SyncKey, Validation, VerifyError,
};

const MARKER: &str = "<redacted>";
const NOW: i64 = 1_700_000_000;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Every text form of `bytes` that a careless `Debug` could print.
fn forms(bytes: &[u8]) -> Vec<String> {
    let mut forms = vec![
        hex(bytes),
        hex(bytes).to_uppercase(),
        STANDARD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        format!("{bytes:?}"),
    ];
    // The start of a byte array's rendering: `{:#?}` ends its last element with a comma.
    let head = format!("{:?}", &bytes[..bytes.len().min(12)]);
    forms.push(head.trim_end_matches(']').to_owned());
    if let Ok(text) = std::str::from_utf8(bytes) {
        forms.push(text.to_owned());
    }
    forms.retain(|f| f.len() >= 8);
    forms
}

/// Whether `shown` contains `form`, also once whitespace is removed from both
/// (a derived `{:#?}` of a byte array puts each byte on its own line).
fn shows(shown: &str, form: &str) -> bool {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    shown.contains(form) || squeeze(shown).contains(&squeeze(form))
}

/// `{:?}` and `{:#?}` of `value` show the marker and no form of any of `secrets`.
fn assert_redacted<T: std::fmt::Debug>(what: &str, value: &T, secrets: &[&[u8]]) {
    for shown in [format!("{value:?}"), format!("{value:#?}")] {
        assert!(shown.contains(MARKER), "{what}: no {MARKER} marker in {shown}");
        for secret in secrets {
            for form in forms(secret) {
                assert!(!shows(&shown, &form), "{what}: Debug shows the secret ({form}) in {shown}");
            }
        }
        for prefix in ["egs_", "egm_", "egk_"] {
            assert!(!shown.contains(prefix), "{what}: Debug shows a {prefix} key in {shown}");
        }
    }
}

#[test]
fn embed_secrets_are_redacted() {
    let generated = EmbedSecret::generate().unwrap();
    assert_redacted("EmbedSecret::generate", &generated, &[generated.hmac_key()]);
    // A secret read as given (not in the egs_ form) is just as hidden.
    let given = EmbedSecret::new("a host app's own secret string, 0123456789".to_owned());
    assert_redacted("EmbedSecret::new", &given, &[given.hmac_key()]);
    let parsed = EmbedSecret::parse_well_formed(generated.expose_secret()).unwrap();
    assert_redacted("EmbedSecret::parse_well_formed", &parsed, &[generated.hmac_key()]);
    // In a container, the derived Debug of the container delegates to it.
    assert_redacted("Option<EmbedSecret>", &Some(given.clone()), &[given.hmac_key()]);
}

#[test]
fn master_and_sync_keys_are_redacted() {
    let master = MasterKey::generate().unwrap();
    let printable = master.to_printable();
    assert_redacted("MasterKey", &master, &[master.expose_bytes(), printable.as_bytes()]);
    let read = MasterKey::from_printable(&printable).unwrap();
    assert_redacted("MasterKey::from_printable", &read, &[master.expose_bytes(), printable.as_bytes()]);

    let sync = SyncKey::generate().unwrap();
    let printable = sync.to_printable();
    assert_redacted("SyncKey", &sync, &[sync.expose_bytes(), printable.as_bytes()]);
    let shared = std::sync::Arc::new(sync.clone());
    assert_redacted("Arc<SyncKey>", &shared, &[sync.expose_bytes(), printable.as_bytes()]);
    let set = KeySet::from_keys(vec![sync.clone(), SyncKey::generate().unwrap()]).unwrap();
    assert_redacted("KeySet<SyncKey>", &set, &[sync.expose_bytes(), printable.as_bytes()]);

    let edge = EdgeKey::generate().unwrap();
    let printable = edge.to_printable();
    assert_redacted("EdgeKey", &edge, &[edge.expose_bytes(), printable.as_bytes()]);
    assert_redacted("KeySet<EdgeKey>", &KeySet::single(edge.clone()), &[edge.expose_bytes(), printable.as_bytes()]);
}

#[test]
fn org_keys_and_wrapped_values_are_redacted() {
    let master = MasterKey::generate().unwrap();
    let org_key = OrgKey::generate().unwrap();
    let org: embedgate_core::OrgSlug = "acme".parse().unwrap();
    let cid = ClientId::generate().unwrap();
    let secret = org_key.derive_embed_secret(&org, &cid, 1);
    let wrapped = master.wrap_org_key(&org, 1, &org_key).unwrap();
    let opened = KeySet::single(master.clone()).unwrap_org_key(&org, 1, &wrapped).unwrap();
    assert_redacted("OrgKey", &opened, &[master.expose_bytes()]);
    // The org key's bytes are private: check through what it derives.
    assert_eq!(opened.derive_embed_secret(&org, &cid, 1).expose_secret(), secret.expose_secret());
    assert_redacted("OrgKey (derived from)", &opened, &[secret.hmac_key()]);
    let edge = EdgeKey::generate().unwrap();
    let for_edge = edge.wrap_secret(&org, &cid, 1, &secret).unwrap();
    assert_redacted("Wrapped", &for_edge, &[secret.hmac_key(), edge.expose_bytes()]);
}

#[test]
fn hmac_keys_and_key_rings_are_redacted() {
    let secret = EmbedSecret::generate().unwrap();
    let key = Hs256Key::new(secret.hmac_key());
    assert_redacted("Hs256Key", &key, &[secret.hmac_key()]);
    // A short key is used as is by HMAC (padded, not hashed): still hidden.
    let short = Hs256Key::new(b"correct horse battery");
    assert_redacted("Hs256Key (short key)", &short, &[b"correct horse battery"]);

    let ring = KeyRing::from_secret(&secret, 1);
    assert_redacted("KeyRing::from_secret", &ring, &[secret.hmac_key()]);

    let edge = EdgeKey::generate().unwrap();
    let org_key = OrgKey::generate().unwrap();
    let owner = Owner { email: "admin@acme.test".into(), account_type: AccountType::Admin };
    let record = CredentialRecord::new(ClientId::generate().unwrap(), "acme".parse().unwrap(), owner);
    let gens: Vec<EmbedSecret> =
        (1..=2).map(|g| org_key.derive_embed_secret(&record.org, &record.client_id, g)).collect();
    let wrapped: Vec<embedgate_core::SecretGeneration> = (1..=2u32)
        .zip(&gens)
        .map(|(g, s)| {
            embedgate_core::SecretGeneration::wrapped(
                g,
                edge.wrap_secret(&record.org, &record.client_id, g, s).unwrap(),
            )
        })
        .collect();
    let (ring, _) = KeyRing::unwrap(&KeySet::single(edge.clone()), &record.org, &record.client_id, &wrapped);
    assert_eq!(ring.len(), 2);
    assert_redacted(
        "KeyRing::unwrap",
        &ring,
        &[edge.expose_bytes(), edge.to_printable().as_bytes(), gens[0].hmac_key(), gens[1].hmac_key()],
    );
}

#[test]
fn the_edge_verifier_and_its_cache_are_redacted() {
    use embedgate_core::cache::{CredentialCache, OrgAnswer};
    use embedgate_core::rules::MemberStatus;
    use embedgate_core::{EdgeCredential, EdgeOwner, Policy, Privilege, SecretGeneration};

    let edge_key = EdgeKey::generate().unwrap();
    let edge_keys = KeySet::single(edge_key.clone());
    let org_key = OrgKey::generate().unwrap();
    let edge = EdgeVerifier::new(&edge_keys, Validation::default());
    let org: embedgate_core::OrgSlug = "acme".parse().unwrap();
    let ids: Vec<ClientId> = (0..3).map(|_| ClientId::generate().unwrap()).collect();
    let derived: Vec<EmbedSecret> = ids.iter().map(|c| org_key.derive_embed_secret(&org, c, 1)).collect();
    let credentials: Vec<EdgeCredential> = ids
        .iter()
        .zip(&derived)
        .map(|(client_id, secret)| EdgeCredential {
            client_id: client_id.clone(),
            owner: "admin@acme.test".into(),
            privileges: [Privilege::Embedding].into(),
            secrets: vec![SecretGeneration::wrapped(1, edge_key.wrap_secret(&org, client_id, 1, secret).unwrap())],
            policy: Policy::default(),
            revoked_at: None,
            version: 1,
        })
        .collect();
    let owner = EdgeOwner {
        email: "admin@acme.test".into(),
        account_type: AccountType::Admin,
        status: MemberStatus::Active,
        version: 1,
    };
    let mut cache = CredentialCache::new(1 << 20, 500);
    let mut held = Vec::new();
    for c in &credentials {
        let answer = OrgAnswer {
            epoch: "e".into(),
            seq: 1,
            credential: Some(c.clone()),
            owner: Some(owner.clone()),
            ..OrgAnswer::default()
        };
        let id = c.client_id.as_str().to_owned();
        let fence = cache.fence();
        held.push(
            cache
                .absorb(&org, Some(&id), answer, 0, fence, |o, c| {
                    KeyRing::unwrap(&edge_keys, o, &c.client_id, &c.secrets).0
                })
                .unwrap(),
        );
    }
    let mut secrets: Vec<&[u8]> = derived.iter().map(EmbedSecret::hmac_key).collect();
    let printable = edge_key.to_printable();
    secrets.push(edge_key.expose_bytes());
    secrets.push(printable.as_bytes());
    assert_redacted("EdgeVerifier", &edge, &secrets);
    assert_redacted("CredentialCache", &cache, &secrets);
    assert_redacted("a cached credential", &held[0], &secrets);
    // It does show what is not secret (so the check above looked at a real rendering).
    assert!(format!("{cache:?}").contains(credentials[0].client_id.as_str()));

    // A verified token and the session it opens carry no key either.
    let token = sign(&Claims::new("ana@acme.test", NOW, 600).unwrap(), &credentials[0].client_id, &derived[0]).unwrap();
    let ctx = EmbedContext { org: Some("acme"), origin: None };
    let embedgate_core::cache::Found::Credential(found) = &held[0] else { panic!("not cached") };
    let parsed = embedgate_core::UnverifiedToken::parse(&token, embedgate_core::MAX_TOKEN_BYTES).unwrap();
    let verified = edge.verify(parsed, NOW, &ctx, |_| Some((&found.record, &found.keys))).unwrap();
    let session = EdgeVerifier::session_for(&verified, NOW, 300);
    for shown in [format!("{verified:?}"), format!("{verified:#?}"), format!("{session:?}"), format!("{session:#?}")] {
        for secret in &secrets {
            for form in forms(secret) {
                assert!(!shows(&shown, &form), "a verified token or session shows a key: {shown}");
            }
        }
    }
}

#[test]
fn errors_and_reports_do_not_echo_key_material() {
    // A mistyped master key: the error names the kind of key, not the value.
    let master = MasterKey::generate().unwrap();
    let mut typo = master.to_printable().to_string();
    typo.pop();
    let err = MasterKey::from_printable(&typo).unwrap_err();
    for shown in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
        assert!(!shown.contains(&typo) && !shown.contains(&typo[4..20]), "{shown}");
    }
    let secret = EmbedSecret::generate().unwrap();
    let err = EmbedSecret::parse_well_formed(&secret.expose_secret()[1..]).map(drop).unwrap_err();
    assert!(!err.to_string().contains(&secret.expose_secret()[1..]), "{err}");

    // A token checked against the wrong secret, and the offline report of it.
    let client_id = ClientId::generate().unwrap();
    let right = EmbedSecret::generate().unwrap();
    let wrong = EmbedSecret::generate().unwrap();
    let token = sign(&Claims::new("ana@acme.test", NOW, 600).unwrap(), &client_id, &right).unwrap();
    let check = OfflineCheck { now: Some(NOW), ..OfflineCheck::default() };
    let ring = |s: &EmbedSecret| KeyRing::from_secret(s, 1);
    let verdict = check.verify(&token, &ring(&wrong), NOW).unwrap();
    assert_eq!(verdict, Err(VerifyError::BadSignature));
    for secret in [&right, &wrong] {
        for with in [Some(ring(secret)), Some(ring(&right)), Some(ring(&wrong)), None] {
            let report = check.explain(&token, with.as_ref(), NOW).unwrap();
            let json = serde_json::to_string(&report).unwrap();
            for shown in [format!("{report:?}"), format!("{report:#?}"), json] {
                for form in forms(secret.hmac_key()) {
                    assert!(!shows(&shown, &form), "an offline report shows a secret: {shown}");
                }
                assert!(embedgate_core::find_embed_secrets(&shown).is_empty(), "{shown}");
            }
        }
    }
    let answer = check.answer(&verdict).to_string();
    assert!(embedgate_core::find_embed_secrets(&answer).is_empty(), "{answer}");
}

/// The helper itself: it would catch each kind of unredacted rendering.
#[test]
fn the_forms_catch_naive_renderings() {
    let key = [0xa5_u8; 32];
    let naive_hex = format!("Key({})", hex(&key));
    let naive_array = format!("{:?}", Some(key));
    let naive_pretty = format!("{:#?}", Some(key));
    let naive_b64 = format!("Key {{ b64: {:?} }}", URL_SAFE_NO_PAD.encode(key));
    for shown in [naive_hex, naive_array, naive_pretty, naive_b64] {
        assert!(forms(&key).iter().any(|f| shows(&shown, f)), "not caught: {shown}");
    }
}
