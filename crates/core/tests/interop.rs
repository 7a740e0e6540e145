//! Interop with the `jsonwebtoken` crate, both ways (native only: it is a
//! dev-dependency for comparison, not part of the core).
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test
#![cfg(not(target_arch = "wasm32"))]

use embedgate_core::{
    sign, AccountType, Claims, ClientId, CredentialRecord, EmbedContext, EmbedSecret, KeyRing, Owner, Validation,
};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header};

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

#[test]
fn tokens_from_jsonwebtoken_verify_in_embedgate() {
    let cid = ClientId::generate().unwrap();
    let secret = EmbedSecret::generate().unwrap();
    let now = now();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(cid.as_str().to_owned());
    let claims = serde_json::json!({
        "sub": "ana@example.com", "jti": "j-1", "iat": now, "exp": now + 600,
        "account_type": "viewer", "teams": ["sales"], "ver": "1.1", "aud": "embedgate",
    });
    let token = encode(&header, &claims, &EncodingKey::from_secret(secret.hmac_key())).unwrap();
    let record = CredentialRecord::new(
        cid.clone(),
        "acme".parse().unwrap(),
        Owner { email: "admin@example.com".into(), account_type: AccountType::Admin },
    );
    let keys = KeyRing::from_secret(&secret, 1);
    let v = Validation::default().verify(&token, now, &EmbedContext::default(), |_| Some((&record, &keys))).unwrap();
    assert_eq!((v.sub().as_ref(), v.account_type()), ("ana@example.com", Some(AccountType::Viewer)));
    assert_eq!(v.teams(), ["sales"]);
}

#[test]
fn tokens_from_embedgate_verify_in_jsonwebtoken() {
    let cid = ClientId::generate().unwrap();
    let secret = EmbedSecret::generate().unwrap();
    let mut claims = Claims::new("ana@example.com", now(), 600).unwrap();
    claims.teams = Some(vec!["sales".into()]);
    let token = sign(&claims, &cid, &secret).unwrap();

    assert_eq!(decode_header(&token).unwrap().kid.as_deref(), Some(cid.as_str()));
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    let data = decode::<serde_json::Value>(&token, &DecodingKey::from_secret(secret.hmac_key()), &validation).unwrap();
    assert_eq!(data.claims["sub"], "ana@example.com");
    assert_eq!(data.claims["teams"][0], "sales");
    // And jsonwebtoken refuses it under a different secret, as we would.
    let other = EmbedSecret::generate().unwrap();
    assert!(decode::<serde_json::Value>(&token, &DecodingKey::from_secret(other.hmac_key()), &validation).is_err());
}
