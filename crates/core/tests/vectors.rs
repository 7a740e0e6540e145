//! Runs every case of `vectors/tokens.json` through the core (native and wasm32).
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "vectors/recipe.rs"]
mod recipe;

use std::collections::BTreeSet;

use embedgate_core::{
    AccountType, CredentialRecord, EmbedContext, EmbedSecret, Kdf, KeyRing, Owner, Policy, SecretGeneration,
    Validation, VerifyError,
};

const TOKENS: &str = include_str!("vectors/tokens.json");

/// Verifies a built case as the edge would (replay last, against `seen_jtis`).
fn run(b: &recipe::Built) -> Result<embedgate_core::Identity, VerifyError> {
    let record = CredentialRecord {
        client_id: b.client_id.parse().unwrap(),
        org: b.org.parse().unwrap(),
        owner: Owner {
            email: b.owner.email.clone(),
            account_type: b.owner.account_type.parse::<AccountType>().unwrap(),
        },
        privileges: b.privileges.iter().map(|p| p.parse().unwrap()).collect(),
        secrets: vec![SecretGeneration { generation: 1, kdf: Kdf::V1 }],
        policy: Policy {
            allowed_origins: b.allowed_origins.clone(),
            max_token_lifetime_s: b.max_token_lifetime_s,
            not_before_cutoff: b.not_before_cutoff,
        },
        revoked_at: b.revoked.then_some(b.now - 1),
    };
    let keys = KeyRing::from_secret(&EmbedSecret::new(b.secret.clone()));
    let mut v = Validation::default();
    v.audience.clone_from(&b.audience);
    v.leeway_s = b.leeway_s;
    let ctx = EmbedContext { org: b.url_org.as_deref(), origin: b.origin.as_deref() };
    let lookup = |kid: &str| (kid == record.client_id.as_str()).then_some((&record, &keys));
    let verified = v.verify(&b.token, b.now, &ctx, lookup)?;
    if b.seen_jtis.iter().any(|j| *j == verified.jti()) {
        return Err(VerifyError::Replayed);
    }
    Ok(verified.identity())
}

#[test]
fn every_vector_case_gets_its_expected_answer() {
    let file = recipe::load(TOKENS);
    assert!(file.cases.len() >= 40, "at least 40 cases");
    let mut failures = Vec::new();
    for case in &file.cases {
        let built = recipe::build(&file.defaults, case);
        let got = match run(&built) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        if got != built.expect {
            failures.push(format!("{}: expected {}, got {got}", built.name, built.expect));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), file.cases.len(), failures.join("\n"));
}

#[test]
fn the_vectors_cover_every_error_code() {
    let file = recipe::load(TOKENS);
    let expected: BTreeSet<&str> = file.cases.iter().map(|c| c.expect.as_str()).collect();
    for code in VerifyError::ALL_CODES {
        assert!(expected.contains(code), "no vector expects {code}");
    }
    assert!(expected.contains("ok"));
}

#[test]
fn accepted_tokens_report_the_verified_identity() {
    let file = recipe::load(TOKENS);
    let case = file.cases.iter().find(|c| c.name == "valid_sigma_style_claims").unwrap();
    let v = run(&recipe::build(&file.defaults, case)).unwrap();
    assert_eq!(v.sub, "ana@example.com");
    assert_eq!(v.org, "acme");
    assert_eq!(v.account_type, Some(AccountType::Creator));
    assert_eq!(v.teams, ["sales", "emea"]);
    assert_eq!(v.user_attributes.get("region").map(String::as_str), Some("emea"));
    assert_eq!(v.exp - v.iat, 3600);
}

#[test]
fn error_messages_never_echo_the_token_or_secret() {
    let file = recipe::load(TOKENS);
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        if let Err(e) = run(&b) {
            let msg = e.to_string();
            assert!(!msg.contains(&b.secret), "{}", b.name);
            assert!(b.token.len() < 8 || !msg.contains(&b.token[..8]), "{}: {msg}", b.name);
            assert!(matches!(e.http_status(), 401 | 403));
        }
    }
}
