//! Runs every case of `vectors/tokens.json` through the core (native and wasm32).
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "vectors/recipe.rs"]
mod recipe;

use std::collections::BTreeSet;

use embedgate_core::{AccountType, KeyRing, Rule, Verdict, VerifyError};

const TOKENS: &str = include_str!("vectors/tokens.json");

/// Verifies a built case as the edge would (replay last, against `seen_jtis`).
fn run(b: &recipe::Built) -> Result<embedgate_core::Identity, VerifyError> {
    b.offline_check().verify(&b.token, &keys(b), 0).unwrap()
}

/// The case's credential key as the verifier holds it (secret or public JWK).
fn keys(b: &recipe::Built) -> KeyRing {
    KeyRing::from_key_text(&b.key, 1).unwrap()
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

/// The owner rule decides what is forwarded, not only what is refused: a
/// non-admin owner's tokens carry its canonical email and at most its
/// account type, and every `sub` is forwarded in its canonical form.
#[test]
fn accepted_tokens_forward_the_identity_each_case_names() {
    let file = recipe::load(TOKENS);
    let mut checked = 0;
    for case in &file.cases {
        let built = recipe::build(&file.defaults, case);
        let Some(want) = &built.identity else { continue };
        let got = serde_json::to_value(run(&built).unwrap()).unwrap();
        for (member, value) in want {
            assert_eq!(&got[member], value, "{}: identity member {member}", built.name);
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} cases name an identity");
}

#[test]
fn error_messages_never_echo_the_token_or_secret() {
    let file = recipe::load(TOKENS);
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        if let Err(e) = run(&b) {
            let msg = e.to_string();
            assert!(!msg.contains(&b.key), "{}", b.name);
            assert!(b.token.len() < 8 || !msg.contains(&b.token[..8]), "{}: {msg}", b.name);
            assert!(matches!(e.http_status(), 401 | 403));
        }
    }
}

#[test]
fn explain_fails_exactly_the_rule_of_the_verdict_and_passes_those_before() {
    let file = recipe::load(TOKENS);
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        let report = b.offline_check().explain(&b.token, Some(&keys(&b)), 0).unwrap();
        let answer = serde_json::to_value(&report.result).unwrap();
        let code = answer.get("error").and_then(|c| c.as_str()).unwrap_or("ok");
        assert_eq!(code, b.expect, "{}: the report's answer", b.name);
        assert_eq!(report.rules.iter().map(|r| r.rule).collect::<Vec<_>>(), Rule::ALL, "{}", b.name);
        let failed: Vec<_> = report.rules.iter().filter(|r| r.verdict == Verdict::Fail).collect();
        if b.expect == "ok" {
            assert!(failed.is_empty(), "{}: {failed:?}", b.name);
            assert_eq!(answer["ok"], true, "{}", b.name);
            continue;
        }
        assert_eq!(failed.len(), 1, "{}: exactly one rule fails", b.name);
        let at = report.rules.iter().position(|r| r.verdict == Verdict::Fail).unwrap();
        assert!(report.rules[..at].iter().all(|r| matches!(r.verdict, Verdict::Pass | Verdict::Skipped)), "{}", b.name);
        assert!(report.rules[at + 1..].iter().all(|r| r.verdict == Verdict::NotReached), "{}", b.name);
        assert_eq!(failed[0].detail.as_deref(), answer["message"].as_str(), "{}", b.name);
    }
}

#[test]
fn explain_without_a_secret_judges_only_what_precedes_the_signature() {
    let file = recipe::load(TOKENS);
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        let report = b.offline_check().explain(&b.token, None, 0).unwrap();
        let answer = serde_json::to_value(&report.result).unwrap();
        let sig = report.rules.iter().position(|r| r.rule == Rule::Signature).unwrap();
        assert!(report.rules[sig..].iter().all(|r| r.verdict != Verdict::Pass), "{}", b.name);
        // A refusal before the signature is the same as with the secret, but
        // for an `alg` that is not the credential key's: only the key tells.
        let alg_of_another_key =
            matches!(run(&b), Err(VerifyError::UnsupportedAlgorithm(why)) if why.contains("this credential"));
        if matches!(b.expect.as_str(), "malformed_token" | "unsupported_algorithm" | "unknown_client")
            && !alg_of_another_key
        {
            assert_eq!(answer["error"], b.expect.as_str(), "{}", b.name);
        } else {
            assert_eq!(answer["pending"], "signature_not_checked", "{}: {answer}", b.name);
        }
    }
}

#[test]
fn an_oversized_token_fails_the_size_rule() {
    let check = embedgate_core::OfflineCheck::default();
    let token = "a".repeat(embedgate_core::MAX_TOKEN_BYTES + 1);
    for secret in [None, Some(KeyRing::from_key_text("s", 1).unwrap())] {
        let report = check.explain(&token, secret.as_ref(), 0).unwrap();
        assert_eq!(report.rules[0].rule, Rule::Size);
        assert_eq!(report.rules[0].verdict, Verdict::Fail);
    }
}

#[test]
fn a_description_that_is_not_a_credential_is_an_options_error() {
    let bad = [
        r#"{"client_id": "not-hex"}"#,
        r#"{"owner_account_type": "root"}"#,
        r#"{"owner_account_type": "viewer"}"#,
        r#"{"privileges": ["embedding", "root"]}"#,
        r#"{"url": "/no"}"#,
        r#"{"org": "Not A Slug"}"#,
    ];
    for json in bad {
        let check: embedgate_core::OfflineCheck = serde_json::from_str(json).unwrap();
        assert!(check.validate().is_err(), "{json}");
    }
    assert!(serde_json::from_str::<embedgate_core::OfflineCheck>(r#"{"secret": "x"}"#).is_err(), "unknown fields");
    let ok: embedgate_core::OfflineCheck = serde_json::from_str("{}").unwrap();
    assert_eq!(ok, embedgate_core::OfflineCheck::default());
}

#[test]
fn inspection_shows_each_part_it_can_decode() {
    let file = recipe::load(TOKENS);
    let case = file.cases.iter().find(|c| c.name == "valid_minimal").unwrap();
    let b = recipe::build(&file.defaults, case);
    let seen = embedgate_core::Inspection::of(&format!("  {}\n", b.token));
    assert_eq!(seen.parts, 3);
    assert_eq!(seen.kid.as_deref(), Some(b.client_id.as_str()));
    assert_eq!(seen.claims.unwrap()["sub"], "ana@example.com");
    let header_only = embedgate_core::Inspection::of(&format!("{}.%%%", b.token.split('.').next().unwrap()));
    assert_eq!((header_only.parts, header_only.claims_error), (2, Some("not base64url")));
    assert!(header_only.header.is_some());
    let nothing = embedgate_core::Inspection::of("");
    assert_eq!((nothing.parts, nothing.header_error, nothing.claims_error), (0, Some("missing"), Some("missing")));
}
