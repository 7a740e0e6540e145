//! The browser module's functions on the core's test vectors: natively and,
//! with the same file, in wasm32 under node (`wasm-bindgen-test-runner`).
#![allow(clippy::unwrap_used)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "../../core/tests/vectors/recipe.rs"]
mod recipe;

use embedgate_wasm::{
    check_body_value, check_field_value, error_codes_value, explain_value, inspect_value, key_info_value, rules_value,
    sign_value, verify_value,
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
    let mut public = 0;
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        // The key as a person pastes it: the embed secret, or the public JWK's JSON.
        public += usize::from(b.key_is_public);
        let verified = verify_value(&b.token, &b.key, b.options_json(), 0).unwrap();
        assert_eq!(code(&verified), b.expect, "{}: verify", b.name);
        let report = explain_value(&b.token, Some(&b.key), b.options_json(), 0).unwrap();
        assert_eq!(code(&report["result"]), b.expect, "{}: explain", b.name);
        assert_eq!(report["rules"].as_array().unwrap().len(), 17, "{}", b.name);
        let failing: Vec<_> = report["rules"].as_array().unwrap().iter().filter(|r| r["verdict"] == "fail").collect();
        assert_eq!(failing.len(), usize::from(b.expect != "ok"), "{}", b.name);
        if b.key_is_public {
            let info = key_info_value(&b.key).unwrap();
            assert_eq!(info["kind"], "public_key", "{}", b.name);
            assert!(matches!(info["algorithm"].as_str(), Some("ES256" | "EdDSA")), "{}: {info}", b.name);
        }
    }
    assert!(public > 0, "the vectors have public-key cases");
}

/// RFC 7517 A.1: a P-256 public key.
const ES256_PUBLIC: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
/// RFC 8037 A.2 (public key) and its RFC 7638 thumbprint (A.3).
const ED25519_PUBLIC: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
const ED25519_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
/// RFC 8037 A.1: the private key of the same pair (a published test key).
const ED25519_PRIVATE: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

#[test]
fn key_info_tells_a_secret_from_a_public_key_and_gives_its_thumbprint() {
    assert_eq!(key_info_value("egs_anything").unwrap(), json!({"kind": "secret"}));
    assert_eq!(
        key_info_value(ED25519_PUBLIC).unwrap(),
        json!({"kind": "public_key", "algorithm": "EdDSA", "thumbprint": ED25519_THUMBPRINT})
    );
    // Pretty-printed, with leading white space and the members a JWK often carries: the same key.
    let pretty = "\n  {\n  \"kty\": \"OKP\",\n  \"crv\": \"Ed25519\", \"use\": \"sig\", \"kid\": \"k1\",\n  \"x\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"\n}\n";
    assert_eq!(key_info_value(pretty).unwrap()["thumbprint"], ED25519_THUMBPRINT);
    assert_eq!(key_info_value(ES256_PUBLIC).unwrap()["algorithm"], "ES256");
    assert!(key_info_value("").unwrap_err().0.starts_with("key: "));
}

#[test]
fn a_bad_jwk_is_an_input_error_that_names_the_key_and_never_echoes_it() {
    let token = "a.b.c";
    let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    let cases = [
        (ED25519_PRIVATE.to_owned(), "private key"),
        (r#"{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}"#.to_owned(), "symmetric"),
        (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned(), "RSA"),
        (r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}"#.to_owned(), "\"y\""),
        (format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{d}"#), "not a JWK"),
        ("{not json".to_owned(), "not a JWK"),
        // The JSON parser's own text would quote the number: the admin's sentence does not.
        (r#"{"kty":"EC","crv":"P-256","x":8675309,"y":"a"}"#.to_owned(), "not a JWK"),
    ];
    for (jwk, why) in cases {
        for err in [
            verify_value(token, &jwk, json!({}), 0).unwrap_err(),
            explain_value(token, Some(&jwk), json!({}), 0).unwrap_err(),
            key_info_value(&jwk).unwrap_err(),
        ] {
            assert!(err.0.starts_with("key: "), "{jwk}: {}", err.0);
            assert!(err.0.contains(why), "{jwk}: {}", err.0);
            for material in [d, "c2VjcmV0", "f83OJ3D2", "8675309"] {
                assert!(!err.0.contains(material), "{}", err.0);
            }
        }
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
    assert!(verify_value(token, "", json!({}), 0).unwrap_err().0.starts_with("key: "));
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
    let unverified = explain_value(&token, None, options.clone(), 0).unwrap();
    assert_eq!(unverified["result"]["pending"], "signature_not_checked");
    // An empty key is no key, as null is.
    assert_eq!(explain_value(&token, Some(""), options.clone(), 0).unwrap(), unverified);
    // An HS256 token checked with a public key: refused before any signature check.
    let confused = explain_value(&token, Some(ED25519_PUBLIC), options, 0).unwrap();
    assert_eq!(confused["result"]["error"], "unsupported_algorithm");

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
    // The public key of a credential: the admin's sentence, never the key.
    let private: Value = serde_json::from_str(ED25519_PRIVATE).unwrap();
    let refused = check_field_value("public_key", &private, 0).unwrap();
    assert!(refused.starts_with("public_key is refused: this JWK holds a private key"), "{refused}");
    assert!(!refused.contains(private["d"].as_str().unwrap()));
    let public: Value = serde_json::from_str(ED25519_PUBLIC).unwrap();
    assert_eq!(check_field_value("public_key", &public, 0), None);
    let body = json!({"name": "x", "owner": "a@b.c", "privileges": ["embedding"], "public_key": public});
    assert_eq!(check_body_value("credential", body, 0).unwrap(), json!({"ok": true}));
}
