//! `cargo bench -p embedgate-core --bench verify` (or `cargo xtask bench`).
//!
//! One realistic ~500-byte Sigma-style embed token, verified three ways:
//! - `verify/embedgate`: our full verification (structure, header, MAC,
//!   every claim rule, owner rule, embed checks), key state precomputed.
//! - `verify/jsonwebtoken`: `jsonwebtoken::decode` into a typed claims struct
//!   with HS256, audience and expiry checks, as a typical service would.
//! - `verify/hmac_floor`: only HMAC-SHA256 over the signing input with the key
//!   state precomputed: the floor no verifier can go below.
//! - `verify/embedgate_es256`, `verify/embedgate_eddsa`: our full
//!   verification of the same claims from an asymmetric credential (the host
//!   app's P-256 or Ed25519 key): what a public-key credential costs.
//!
//! Targets (ratios from one run): jsonwebtoken ≥ 2.5× our time; ours ≤ 3× the
//! floor. The asymmetric ratios are reported, not targeted: a signature
//! check costs what its curve costs.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use embedgate_core::jws::{b64url_decode, CompactParts, Hs256Key};
use embedgate_core::{
    sign, sign_with_key, AccountType, Algorithm, Claims, ClientId, CredentialRecord, EmbedContext, EmbedSecret,
    KeyRing, Owner, SigningJwk, TokenVersion, Validation,
};

const NOW: i64 = 1_700_000_000;

#[allow(dead_code)] // fields are read by serde only
#[derive(serde::Deserialize)]
struct JwtClaims {
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
    account_type: String,
    teams: Vec<String>,
    user_attributes: BTreeMap<String, String>,
    ver: String,
    aud: String,
    iss: String,
}

fn claims(client_id: &ClientId) -> Claims {
    Claims {
        sub: "ana.lima@customer.example".into(),
        jti: "6f1c2d3e4b5a4c6d8e7f".into(),
        iat: NOW,
        exp: NOW + 3600,
        iss: Some(client_id.as_str().to_owned()),
        ver: Some(TokenVersion::V1_1),
        aud: Some("embedgate".into()),
        account_type: Some(AccountType::Explorer),
        teams: Some(vec!["sales-emea".into(), "analysts".into()]),
        user_attributes: Some(BTreeMap::from([("region".into(), "emea".into()), ("tier".into(), "enterprise".into())])),
        ..Claims::default()
    }
}

fn fixture() -> (String, ClientId, EmbedSecret) {
    let client_id: ClientId = "5f2b8c0e9a7d4e1f8b3c6a9d0e2f4b7a".parse().expect("client id");
    let secret = EmbedSecret::new("egs_benchmarkbenchmarkbenchmarkbenchmarkbenchmarkbenchmarkbe".to_owned());
    let token = sign(&claims(&client_id), &client_id, &secret).expect("sign");
    (token, client_id, secret)
}

/// The same claims signed by a fresh key pair of `alg`, with the key ring of its public key.
fn asymmetric_fixture(client_id: &ClientId, alg: Algorithm) -> (String, KeyRing) {
    let pair = SigningJwk::generate(alg).expect("key pair");
    let token = sign_with_key(&claims(client_id), client_id, &pair).expect("sign");
    (token, KeyRing::from_public_key(&pair.public(), 1))
}

fn bench_verify(c: &mut Criterion) {
    let (token, client_id, secret) = fixture();
    let record = CredentialRecord::new(
        client_id.clone(),
        "acme".parse().expect("org"),
        Owner { email: "admin@example.com".into(), account_type: AccountType::Admin },
    );
    let keys = KeyRing::from_secret(&secret, 1);
    let validation = Validation::default();
    let ctx = EmbedContext { org: Some("acme"), origin: None };
    let lookup = |kid: &str| (kid == record.client_id.as_str()).then_some((&record, &keys));
    assert!(validation.verify(&token, NOW, &ctx, lookup).is_ok(), "the fixture verifies");

    let jwt_key = jsonwebtoken::DecodingKey::from_secret(secret.hmac_key());
    let mut jwt_validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    jwt_validation.set_audience(&["embedgate"]);
    jwt_validation.set_required_spec_claims(&["exp", "iat", "sub", "aud"]);
    jwt_validation.validate_exp = false; // the fixture is at a fixed time; ours checks it against NOW
    assert!(jsonwebtoken::decode::<JwtClaims>(&token, &jwt_key, &jwt_validation).is_ok());

    let parts = CompactParts::split(&token).expect("parts");
    let signature = b64url_decode(parts.signature).expect("sig");
    let floor_key = Hs256Key::new(secret.hmac_key());
    assert!(floor_key.verify(parts.signing_input.as_bytes(), &signature));

    let (es256_token, es256_keys) = asymmetric_fixture(&client_id, Algorithm::Es256);
    let (eddsa_token, eddsa_keys) = asymmetric_fixture(&client_id, Algorithm::EdDsa);
    for (token, keys) in [(&es256_token, &es256_keys), (&eddsa_token, &eddsa_keys)] {
        assert!(validation.verify(token, NOW, &ctx, |_| Some((&record, keys))).is_ok(), "the fixture verifies");
    }

    let mut group = c.benchmark_group("verify");
    group.bench_function("embedgate", |b| {
        b.iter(|| validation.verify(black_box(&token), NOW, &ctx, |kid| lookup(kid)).is_ok());
    });
    group.bench_function("jsonwebtoken", |b| {
        b.iter(|| jsonwebtoken::decode::<JwtClaims>(black_box(&token), &jwt_key, &jwt_validation).is_ok());
    });
    group.bench_function("hmac_floor", |b| {
        b.iter(|| floor_key.verify(black_box(parts.signing_input.as_bytes()), black_box(&signature)));
    });
    group.bench_function("embedgate_es256", |b| {
        b.iter(|| validation.verify(black_box(&es256_token), NOW, &ctx, |_| Some((&record, &es256_keys))).is_ok());
    });
    group.bench_function("embedgate_eddsa", |b| {
        b.iter(|| validation.verify(black_box(&eddsa_token), NOW, &ctx, |_| Some((&record, &eddsa_keys))).is_ok());
    });
    group.finish();
    eprintln!("token length: {} bytes", token.len());
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
