//! The browser module's functions on the core's test vectors: natively and,
//! with the same file, in wasm32 under node (`wasm-bindgen-test-runner`).
#![allow(clippy::unwrap_used)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "../../core/tests/vectors/recipe.rs"]
mod recipe;

use embedgate_wasm::{
    check_body_value, check_field_value, error_codes_value, explain_value, inspect_value, rules_value, sign_value,
    verify_value,
};
use serde_json::{json, Value};

const TOKENS: &str = include_str!("../../core/tests/vectors/tokens.json");

fn code(answer: &Value) -> &str {
    if answer["ok"] == true {
        "ok"
    } else {
        answer["error"].as_str().unwrap_or("(none)")
    }
}

#[test]
fn verify_and_explain_answer_every_vector_as_expected() {
    let file = recipe::load(TOKENS);
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        let verified = verify_value(&b.token, &b.key, b.options_json(), 0).unwrap();
        assert_eq!(code(&verified), b.expect, "{}: verify", b.name);
        let report = explain_value(&b.token, Some(&b.key), b.options_json(), 0).unwrap();
        assert_eq!(code(&report["result"]), b.expect, "{}: explain", b.name);
        assert_eq!(report["rules"].as_array().unwrap().len(), 17, "{}", b.name);
        let failing: Vec<_> = report["rules"].as_array().unwrap().iter().filter(|r| r["verdict"] == "fail").collect();
        assert_eq!(failing.len(), usize::from(b.expect != "ok"), "{}", b.name);
    }
}

#[test]
fn bad_options_name_their_field() {
    let token = "a.b.c";
    for (options, field) in [
        (json!({"client_id": "xyz"}), "client_id"),
        (json!({"owner_account_type": "viewer"}), "owner"),
        (json!({"privileges": ["root"]}), "privileges"),
        (json!({"leeway": "60"}), "options"),
        (json!({"unknown": 1}), "options"),
    ] {
        let err = explain_value(token, None, options.clone(), 0).unwrap_err();
        assert!(err.0.starts_with(&format!("{field}: ")), "{options}: {}", err.0);
    }
    assert!(verify_value(token, "", json!({}), 0).unwrap_err().0.starts_with("secret: "));
    // null options are the defaults.
    assert_eq!(explain_value(token, None, Value::Null, 0).unwrap()["result"]["error"], "malformed_token");
}

#[test]
fn a_signed_test_token_verifies_and_inspects() {
    let client_id = "0123456789abcdef0123456789abcdef";
    let secret = "egs_test_secret";
    let input = json!({"client_id": client_id, "secret": secret, "sub": "ana@example.com", "ttl_s": 120,
        "now": 1_700_000_000, "claims": {"account_type": "viewer", "teams": ["a"]}});
    let token = sign_value(&input, 0).unwrap();
    let seen = inspect_value(&token);
    assert_eq!(seen["kid"], client_id);
    assert_eq!(seen["claims"]["exp"], 1_700_000_120);
    assert_eq!(seen["claims"]["account_type"], "viewer");
    let options = json!({"now": 1_700_000_010});
    let answer = verify_value(&token, secret, options.clone(), 0).unwrap();
    assert_eq!((answer["ok"].clone(), answer["sub"].clone()), (json!(true), json!("ana@example.com")));
    assert_eq!(verify_value(&token, "egs_other", options.clone(), 0).unwrap()["error"], "bad_signature");
    let unverified = explain_value(&token, None, options, 0).unwrap();
    assert_eq!(unverified["result"]["pending"], "signature_not_checked");

    for (bad, field) in [
        (json!({"secret": secret, "sub": "a"}), "client_id"),
        (json!({"client_id": client_id, "sub": "a"}), "secret"),
        (json!({"client_id": client_id, "secret": secret}), "sub"),
        (json!({"client_id": client_id, "secret": secret, "sub": "a", "ttl_s": 0}), "ttl_s"),
        (json!({"client_id": client_id, "secret": secret, "sub": "a", "claims": [1]}), "claims"),
    ] {
        assert!(sign_value(&bad, 0).unwrap_err().0.starts_with(field), "{bad}");
    }
}

#[test]
fn inspect_never_fails_and_codes_carry_their_status() {
    for garbage in ["", ".", "..", "a.b.c.d", "\u{0}", &"x".repeat(100_000)] {
        let seen = inspect_value(garbage);
        assert!(seen.is_object(), "{garbage:?}");
    }
    let codes = error_codes_value();
    assert_eq!(codes.as_array().unwrap().len(), 16);
    assert!(codes.as_array().unwrap().iter().any(|c| c == &json!({"code": "org_mismatch", "status": 403})));
    assert!(codes.as_array().unwrap().iter().any(|c| c == &json!({"code": "replayed", "status": 401})));
}

#[test]
fn the_console_checks_fields_with_the_admins_rules() {
    let limits = rules_value();
    assert_eq!(limits["max_token_lifetime_s"], 2_592_000);
    assert_eq!(limits["credential_statuses"], json!(["active", "revoked", "owner_inactive"]));
    assert_eq!(check_field_value("name", &json!("Portal"), 0), None);
    assert_eq!(
        check_field_value("max_token_lifetime_s", &json!(2_592_001), 0).as_deref(),
        Some("max_token_lifetime_s must be an integer from 1 to 2592000")
    );
    let bad =
        check_body_value("credential", json!({"name": "x", "owner": "nope", "privileges": ["embedding"]}), 0).unwrap();
    assert_eq!((bad["ok"].as_bool(), bad["field"].as_str()), (Some(false), Some("owner")));
    let ok = check_body_value("member", json!({"email": "a@b.c", "account_type": "viewer"}), 0).unwrap();
    assert_eq!(ok, json!({"ok": true}));
    assert!(check_body_value("root", json!({}), 0).is_err());
}
