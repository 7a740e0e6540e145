//! Asymmetric credentials end to end (issue 15, part 2): a host app makes an
//! ES256 or EdDSA key pair with Python's `cryptography`, gives the admin only
//! the public key (the JWK PyJWT exports), and signs embed tokens with PyJWT.
//! The edge on workerd accepts them, refuses the algorithm-confusion attack
//! (an HS256 token keyed with the public key) and other keys' tokens, keeps
//! two keys live across a rotation until the old one is retired, and ends
//! with the revocation. No HMAC key of any origin mints such a credential's
//! tokens (the public key's text, or any secret, such as one derived from a
//! stolen org key): only the host app's private key signs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use embedgate_core::{sign, Claims, EmbedSecret, PublicJwk};
use embedgate_e2e::{embedgate, pyjwt_keygen, pyjwt_sign_as, step, Edge, Stack, ADMIN, ORG};
use serde_json::{json, Value};

const SUB: &str = "ana@customer.test";

/// `token` loaded at `edge`: `ok` or the refusal's code.
async fn load(edge: &Edge, token: &str) -> String {
    let answer = edge.embed(ORG, Some(token), None).await;
    if answer.status == 200 {
        assert_eq!(answer.body["sub"], SUB, "{}", answer.body);
        "ok".to_owned()
    } else {
        answer.error().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_key_credentials_sign_at_the_host_and_verify_at_the_edge() {
    let stack = Stack::start(1).await;
    let edge = &stack.edges[0];

    for alg in ["ES256", "EdDSA"] {
        step(&format!("{alg}: the host app's key pair; the admin gets the public JWK only"));
        let (private_pem, public_jwk) = pyjwt_keygen(alg);
        let expected = PublicJwk::from_value(&public_jwk).unwrap();
        let created = stack
            .post(
                "/credentials",
                json!({"name": format!("host {alg}"), "owner": ADMIN, "privileges": ["embedding"], "public_key": public_jwk}),
                201,
            )
            .await;
        assert!(created.get("secret").is_none(), "no secret for a public-key credential: {created}");
        assert_eq!(created["algorithm"], alg, "{created}");
        assert_eq!(created["public_keys"][0]["thumbprint"], expected.thumbprint().as_str(), "{created}");
        let client_id = created["client_id"].as_str().unwrap().to_owned();
        stack.wait_in_sync(Duration::from_secs(30)).await;

        step(&format!("{alg}: PyJWT's token verifies at the edge; the CLI agrees"));
        let token = pyjwt_sign_as(alg, &client_id, &private_pem, SUB, None);
        assert_eq!(load(edge, &token).await, "ok");
        assert_eq!(load(edge, &token).await, "replayed", "single use, as for HS256");
        let jwk_text = public_jwk.to_string();
        let fresh = pyjwt_sign_as(alg, &client_id, &private_pem, SUB, None);
        let verdict: Value = serde_json::from_str(&embedgate(
            &["verify", "--client-id", &client_id, "--public-key", &jwk_text, "--org", ORG, "--", &fresh],
            &[],
        ))
        .unwrap();
        assert_eq!(verdict["ok"], true, "{verdict}");

        step(&format!(
            "{alg}: HS256 with any key (the public key's text, a secret), and another key pair, are refused"
        ));
        // PyJWT itself refuses an asymmetric key's text as an HMAC secret: an attacker
        // uses a library that does not, as core's `sign` here.
        for hmac_key in
            [expected.canonical_json(), jwk_text.clone(), EmbedSecret::generate().unwrap().expose_secret().to_owned()]
        {
            let claims = Claims::new(SUB, now(), 600).unwrap();
            let confused = sign(&claims, &client_id.parse().unwrap(), &EmbedSecret::new(hmac_key)).unwrap();
            assert_eq!(load(edge, &confused).await, "unsupported_algorithm");
        }
        let (stranger_pem, _) = pyjwt_keygen(alg);
        assert_eq!(load(edge, &pyjwt_sign_as(alg, &client_id, &stranger_pem, SUB, None)).await, "bad_signature");

        step(&format!("{alg}: rotation keeps both keys live (to the other algorithm), retiring drops the old"));
        let other = if alg == "ES256" { "EdDSA" } else { "ES256" };
        let (next_pem, next_jwk) = pyjwt_keygen(other);
        let path = format!("/credentials/{client_id}/rotate");
        let rotated = stack.post(&path, json!({"public_key": next_jwk}), 200).await;
        assert!(rotated.get("secret").is_none(), "{rotated}");
        assert_eq!(rotated["public_keys"].as_array().unwrap().len(), 2, "{rotated}");
        assert_eq!(rotated["algorithm"], other, "{rotated}");
        let same = stack.post(&path, json!({"public_key": next_jwk}), 409).await;
        assert_eq!(same["error"], "same_public_key", "{same}");
        let no_key = stack.post(&path, json!({}), 422).await;
        assert!(no_key.to_string().contains("public_key"), "{no_key}");
        stack.wait_in_sync(Duration::from_secs(30)).await;
        assert_eq!(load(edge, &pyjwt_sign_as(alg, &client_id, &private_pem, SUB, None)).await, "ok");
        assert_eq!(load(edge, &pyjwt_sign_as(other, &client_id, &next_pem, SUB, None)).await, "ok");
        stack.post(&format!("/credentials/{client_id}/retire-previous"), json!({}), 200).await;
        stack.wait_in_sync(Duration::from_secs(30)).await;
        assert_eq!(load(edge, &pyjwt_sign_as(alg, &client_id, &private_pem, SUB, None)).await, "unsupported_algorithm");
        assert_eq!(load(edge, &pyjwt_sign_as(other, &client_id, &next_pem, SUB, None)).await, "ok");

        step(&format!("{alg}: revoking ends it"));
        stack.post(&format!("/credentials/{client_id}/revoke"), json!({}), 200).await;
        stack.wait_in_sync(Duration::from_secs(30)).await;
        assert_eq!(load(edge, &pyjwt_sign_as(other, &client_id, &next_pem, SUB, None)).await, "credential_revoked");
    }

    step("the README's signer (examples/sign-with-key.mjs, Node's standard library) for both algorithms");
    for kind in ["es256", "eddsa"] {
        let pair = node_signer(&["keygen", kind], None);
        let pair: Value = serde_json::from_str(&pair).unwrap();
        let created = stack
            .post(
                "/credentials",
                json!({"name": format!("node {kind}"), "owner": ADMIN, "privileges": ["embedding"], "public_key": pair["public_jwk"]}),
                201,
            )
            .await;
        let client_id = created["client_id"].as_str().unwrap().to_owned();
        stack.wait_in_sync(Duration::from_secs(30)).await;
        let token = node_signer(&["sign", &client_id, SUB], Some(&pair["private_jwk"].to_string()));
        assert_eq!(load(edge, &token).await, "ok", "{kind}");
    }

    step("a private JWK, an RSA key and a non-object are refused (422), never stored");
    for bad in [
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}),
        json!({"kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl", "e": "AQAB"}),
        json!("egs_not_a_key"),
    ] {
        let answer = stack
            .post(
                "/credentials",
                json!({"name": "bad key", "owner": ADMIN, "privileges": ["embedding"], "public_key": bad}),
                422,
            )
            .await;
        assert!(answer.to_string().contains("public_key"), "{answer}");
        assert!(!answer.to_string().contains("nWGxne_9WmC6"), "the refusal echoes the private key: {answer}");
    }
}

/// Unix seconds now.
fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Runs `examples/sign-with-key.mjs ARGS` with Node (the private JWK, if
/// any, in `EMBED_PRIVATE_JWK`); its stdout, trimmed.
fn node_signer(args: &[&str], private_jwk: Option<&str>) -> String {
    let node = embedgate_harness::node_bin().join("node");
    let script = embedgate_harness::repo_root().join("examples/sign-with-key.mjs");
    let mut cmd = std::process::Command::new(node);
    cmd.arg(script).args(args).stdin(std::process::Stdio::null());
    if let Some(jwk) = private_jwk {
        cmd.env("EMBED_PRIVATE_JWK", jwk);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "sign-with-key.mjs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
