//! The fuzz targets' bodies and fixtures, shared by the `fuzz_targets/`
//! binaries (libFuzzer) and `examples/gen_seeds.rs` (which writes the seed
//! corpus and runs every seed through its target once, natively).
//!
//! The fixtures are those of `crates/core/tests/vectors/tokens.json`'s
//! `defaults`, so the vector tokens used as seeds verify (and reach the claim
//! checks) here too.
//!
//! Input formats (the first byte of most inputs is a *mode* byte, so one
//! target can both feed raw bytes to a parser and reach what lies behind a MAC):
//! - `verify_token`: `mode ‖ rest`. Mode bit 0 clear: `rest` is the token.
//!   Set: `rest` is `header JSON ‖ '\n' ‖ payload JSON`, signed here with the
//!   fixture secret (so the claim rules are fuzzed, not just the MAC). Bit 1:
//!   a non-admin owner; bit 2: an embed context (org, origin); bit 3: a
//!   credential policy (origins, lifetime limit, cutoff).
//! - `offline_check`: `options JSON ‖ 0x00 ‖ token`; without a 0x00 the token
//!   is a valid fixture token.
//! - `sync_open`: `mode ‖ rest`. Mode bit 0 clear: `rest` is
//!   `signature header ‖ '\n' ‖ body`. Set: `rest` is the body, sealed here with
//!   the fixture sync key (so the JSON and the state rules are reached).
//! - `admin_bodies` (feature `admin`): `selector ‖ JSON body`, the selector
//!   picking one of the admin API's body-taking endpoints.
//! - `public_key`: `mode ‖ rest`. Mode bit 0 clear: `rest` is a JWK, parsed as
//!   a credential's public key (and, if it parses, round-tripped). Set: a
//!   token verified by a public-key credential (the vectors' P-256 key, or
//!   with bit 1 their Ed25519 key); with bit 2 `rest` is `header JSON ‖ '\n' ‖
//!   payload JSON`, signed here with that key's private half (so the claim
//!   rules are reached on the asymmetric path), else `rest` is the token.

use embedgate_core::rules::{AllowedOrigins, TokenLifetime};
use embedgate_core::sync::{self, SyncAck, SyncError, SyncRequest};
use embedgate_core::{
    jws::Hs256Key, sign_raw, AccountType, CredentialRecord, EdgeCredential, EmbedContext, EmbedSecret, Inspection,
    KeyRing, OfflineCheck, Outcome, Owner, PublicJwk, Rule, SigningJwk, SyncKey, UnverifiedToken, Validation, Verdict,
    VerifyError, MAX_JTI_CHARS, MAX_LIFETIME_CAP_S, MAX_SUB_CHARS, MAX_TOKEN_BYTES,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[cfg(feature = "admin")]
pub mod admin;

/// The vectors' clock.
pub const NOW: i64 = 1_700_000_000;
/// The vectors' client ID.
pub const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
/// The vectors' embed secret (a test value, published in tokens.json).
pub const SECRET: &str = "egs_sgnebr7xbm6rrgq4g3fl6pvtmdlq6b46dart5s5r5czbk5i6vjyhn4pkxi";
/// The vectors' org.
pub const ORG: &str = "acme";
/// A fixed sync key (32 bytes of 0x5a; fuzzing only).
pub const SYNC_KEY: &str = "egk_ljnfuws2ljnfuws2ljnfuws2ljnfuws2ljnfuws2ljnfuws2ljnldbxua4";
/// A fixed master key (32 bytes of 0x6d; fuzzing only).
pub const MASTER_KEY: &str = "egm_nvww23lnnvww23lnnvww23lnnvww23lnnvww23lnnvww23lnnvwrz5of5a";
/// The origin the policy fixture allows and the context fixture frames from.
pub const ORIGIN: &str = "https://app.example.com";

/// The sync protocol's MAC labels (private in the core; a drift is caught:
/// a body sealed here must never fail its signature check).
const REQUEST_LABEL: &[u8] = b"embedgate/sync-request/v1\0";
const ACK_LABEL: &[u8] = b"embedgate/sync-ack/v1\0";

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Splits at the first `sep` (everything and nothing when absent).
fn split_at_byte(data: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    }
}

/// The credential record of the vectors (admin-owned), or the variant the mode asks for.
pub fn record(non_admin: bool, policy: bool) -> CredentialRecord {
    let owner = if non_admin {
        Owner { email: "ana@example.com".into(), account_type: AccountType::Creator }
    } else {
        Owner { email: "admin@example.com".into(), account_type: AccountType::Admin }
    };
    let mut record =
        CredentialRecord::new(CLIENT_ID.parse().expect("fixture client ID"), ORG.parse().expect("org"), owner);
    if policy {
        record.policy.allowed_origins =
            AllowedOrigins::parse([ORIGIN, "http://127.0.0.1:3000/"]).expect("fixture origins");
        record.policy.max_token_lifetime_s = Some(TokenLifetime::new(3600).expect("fixture lifetime"));
        record.policy.not_before_cutoff = Some(NOW - 86_400);
    }
    record
}

/// Signs `header` and `payload` (any bytes) with the fixture secret.
pub fn sign_fixture(header: &[u8], payload: &[u8]) -> String {
    sign_raw(header, payload, &Hs256Key::new(EmbedSecret::new(SECRET.into()).hmac_key()))
}

/// A valid fixture token (the vectors' `valid_minimal`).
pub fn valid_token() -> String {
    let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{CLIENT_ID}"}}"#);
    let payload = format!(r#"{{"sub":"ana@example.com","jti":"jti-0001","iat":{NOW},"exp":{}}}"#, NOW + 3600);
    sign_fixture(header.as_bytes(), payload.as_bytes())
}

fn check_error(e: &VerifyError, token: &str) {
    let status = e.http_status();
    assert!(status == 401 || status == 403, "{e:?} answers HTTP {status}");
    assert!(VerifyError::ALL_CODES.contains(&e.code()), "{e:?} has an unlisted code {}", e.code());
    let message = e.to_string();
    assert!(!message.contains(SECRET), "an error message echoes the secret");
    if token.len() >= 16 {
        assert!(!message.contains(token), "an error message echoes the token");
    }
}

/// `verify_token`: parse + verify must never panic; every refusal is a
/// listed code answered 401/403; every acceptance satisfies architecture.md §3.
pub fn verify_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let token = if mode & 1 == 0 {
        lossy(rest).into_owned()
    } else {
        let (header, payload) = split_at_byte(rest, b'\n');
        sign_fixture(header, payload.unwrap_or_default())
    };
    let record = record(mode & 2 != 0, mode & 8 != 0);
    let keys = KeyRing::from_secret(&EmbedSecret::new(SECRET.into()), 1);
    let ctx =
        if mode & 4 != 0 { EmbedContext { org: Some(ORG), origin: Some(ORIGIN) } } else { EmbedContext::default() };
    let validation = Validation::default();

    // The parser on its own, and the inspector (which reads unverified tokens).
    match UnverifiedToken::parse(&token, MAX_TOKEN_BYTES) {
        Ok(parsed) => {
            let _ = (parsed.header_json(), parsed.payload_json(), parsed.kid(), parsed.signature());
            assert!(token.len() <= MAX_TOKEN_BYTES);
            assert!(token.starts_with(parsed.signing_input()));
        }
        Err(e) => check_error(&e, &token),
    }
    let _ = Inspection::of(&token);

    match validation.verify(&token, NOW, &ctx, |kid| (kid == CLIENT_ID).then_some((&record, &keys))) {
        Ok(v) => {
            assert!(token.len() <= MAX_TOKEN_BYTES, "a token over the size limit verified");
            let sub = v.sub();
            assert!(!sub.is_empty() && sub.chars().count() <= MAX_SUB_CHARS, "sub {sub:?} accepted");
            assert!(!sub.chars().any(char::is_whitespace), "sub with whitespace accepted");
            assert!(v.jti().chars().count() <= MAX_JTI_CHARS, "jti too long accepted");
            assert!(v.exp() > v.iat(), "exp <= iat accepted");
            let lifetime = u64::try_from(v.exp() - v.iat()).unwrap_or(u64::MAX);
            assert!(lifetime <= MAX_LIFETIME_CAP_S, "lifetime {lifetime} over the cap accepted");
            if let Some(max) = record.policy.max_token_lifetime_s.map(TokenLifetime::seconds) {
                assert!(lifetime <= max, "lifetime {lifetime} over the credential's {max} accepted");
            }
            assert!(v.exp().saturating_add(60) >= NOW, "an expired token accepted");
            assert!(v.iat() <= NOW + 60, "a token from the future accepted");
            if record.owner.account_type != AccountType::Admin {
                assert!(sub.eq_ignore_ascii_case(&record.owner.email) || sub.to_lowercase() == record.owner.email);
            }
            let _ = (v.teams(), v.user_attributes(), v.account_type(), v.ver(), v.nbf());
            let identity = v.identity();
            let _ = serde_json::to_string(&identity).expect("an identity serializes");
        }
        Err(e) => {
            check_error(&e, &token);
            if token.len() > MAX_TOKEN_BYTES {
                assert_eq!(e.code(), "malformed_token", "an oversized token gave {e:?}");
            }
        }
    }
}

/// `offline_check`: any options JSON and any token; `explain` agrees with
/// `verify` and fails at most one rule.
pub fn offline_check(data: &[u8]) {
    let (options, token) = split_at_byte(data, 0);
    let Ok(check) = serde_json::from_slice::<OfflineCheck>(options) else { return };
    let token = token.map_or_else(valid_token, |t| lossy(t).into_owned());
    let secret = KeyRing::from_secret(&EmbedSecret::new(SECRET.into()), 1);
    let _ = check.validate();
    let verified = check.verify(&token, &secret, NOW);
    if let Ok(Err(e)) = &verified {
        check_error(e, &token);
    }
    for with_secret in [Some(&secret), None] {
        let report = check.explain(&token, with_secret, NOW);
        match (&report, &verified) {
            (Ok(report), Ok(result)) => {
                assert_eq!(report.rules.len(), Rule::ALL.len());
                let failed = report.rules.iter().filter(|r| r.verdict == Verdict::Fail).count();
                assert!(failed <= 1, "{failed} rules failed");
                if with_secret.is_some() {
                    let accepted = matches!(report.result, Outcome::Accepted(_));
                    assert_eq!(accepted, result.is_ok(), "explain and verify disagree");
                    assert_eq!(failed, usize::from(result.is_err()), "a refusal must fail exactly one rule");
                    let _ = check.answer(result);
                } else {
                    assert!(!matches!(report.result, Outcome::Accepted(_)), "accepted without a secret");
                }
            }
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => panic!("verify refused the options ({e}) but explain took them"),
            (Err(e), Ok(_)) => {
                // explain validates the options before the token; verify only when the token has a kid.
                assert!(check.validate().is_err(), "explain refused valid options: {e}");
            }
        }
    }
}

/// The vectors' named private JWK (`defaults.keys`, test keys published in tokens.json).
pub fn vector_key(name: &str) -> SigningJwk {
    static KEYS: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../crates/core/tests/vectors/tokens.json")).expect("tokens.json");
        file["defaults"]["keys"].clone()
    });
    SigningJwk::parse(&keys[name].to_string()).expect("a vector key")
}

/// `public_key`: JWK parsing never panics and what parses round-trips
/// canonically; tokens of a public-key credential are refused with a listed
/// code or satisfy what `verify_token` checks of accepted tokens.
pub fn public_key(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        let text = lossy(rest);
        match PublicJwk::parse(&text) {
            Ok(key) => {
                let again = PublicJwk::parse(&key.canonical_json()).expect("a canonical JWK parses");
                assert_eq!(again, key, "the canonical form is the same key");
                assert_eq!(again.thumbprint(), key.thumbprint());
                let json = serde_json::to_string(&key).expect("a public key serializes");
                assert!(!json.contains("\"d\""), "a private member survived: {json}");
                let _ = key.verify(rest, rest);
            }
            Err(e) => {
                let message = e.to_string();
                if text.len() >= 16 {
                    assert!(!message.contains(&*text), "a JWK error echoes its input");
                }
            }
        }
        return;
    }
    let signer = vector_key(if mode & 2 == 0 { "p256" } else { "ed25519" });
    let token = if mode & 4 == 0 {
        lossy(rest).into_owned()
    } else {
        let (header, payload) = split_at_byte(rest, b'\n');
        embedgate_core::sign_raw_with_key(header, payload.unwrap_or_default(), &signer)
    };
    let record = record(false, false);
    let keys = KeyRing::from_public_key(&signer.public(), 1);
    match Validation::default()
        .verify(&token, NOW, &EmbedContext::default(), |kid| (kid == CLIENT_ID).then_some((&record, &keys)))
    {
        Ok(v) => {
            assert!(v.exp() > v.iat() && v.exp().saturating_add(60) >= NOW, "a bad lifetime accepted");
            let alg = UnverifiedToken::parse(&token, MAX_TOKEN_BYTES).ok().and_then(|t| {
                let header: serde_json::Value = serde_json::from_str(t.header_json()).ok()?;
                header.get("alg").and_then(|a| a.as_str()).map(str::to_owned)
            });
            assert_eq!(alg.as_deref(), Some(signer.algorithm().as_str()), "a token of another alg verified");
            let _ = serde_json::to_string(&v.identity()).expect("an identity serializes");
        }
        Err(e) => check_error(&e, &token),
    }
}

/// The fixture sync key.
pub fn sync_key() -> SyncKey {
    SyncKey::from_printable(SYNC_KEY).expect("fixture sync key")
}

/// `v1=<hex>` over `label ‖ body` with the fixture key (what the core's `seal` does).
pub fn tag(label_is_request: bool, body: &[u8]) -> String {
    let key = sync_key();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_bytes()).expect("any key length");
    mac.update(if label_is_request { REQUEST_LABEL } else { ACK_LABEL });
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::from("v1=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn check_sync_error(e: &SyncError) {
    assert!(matches!(e.http_status(), 400 | 401 | 413), "{e:?} answers {}", e.http_status());
    let _ = e.code();
}

/// `sync_open`: opening requests and acks never panics; a body sealed with
/// the key always passes its tag; an opened request round-trips, a replica
/// takes it without going back, and its records apply only when newer.
pub fn sync_open(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let key = sync_key();
    if mode & 1 == 0 {
        let (signature, body) = split_at_byte(rest, b'\n');
        let signature = lossy(signature);
        let body = body.unwrap_or_default();
        for sig in [Some(signature.as_ref()), None] {
            if let Err(e) = sync::open_request(body, sig, &key) {
                check_sync_error(&e);
            }
            if let Err(e) = sync::open_ack(body, sig, &key, "n") {
                check_sync_error(&e);
            }
            let _ = sync::verify_request_tag(body, sig, &key);
        }
        return;
    }
    let body = rest;
    let request_tag = tag(true, body);
    assert_eq!(sync::verify_request_tag(body, Some(&request_tag), &key), Ok(()), "a sealed body failed its tag");
    match sync::open_request(body, Some(&request_tag), &key) {
        Ok(request) => check_request(&request, &key),
        Err(e) => {
            check_sync_error(&e);
            assert!(matches!(e, SyncError::Malformed(_)), "a sealed request refused with {e:?}");
        }
    }
    // The ack direction: the request's tag must not open an ack, the ack's must.
    assert!(sync::open_ack(body, Some(&request_tag), &key, "").is_err());
    let ack_tag = tag(false, body);
    if let Ok(ack) = serde_json::from_slice::<SyncAck>(body) {
        let opened = sync::open_ack(body, Some(&ack_tag), &key, &ack.nonce).expect("a sealed ack opens");
        assert_eq!(opened, ack);
        let resealed = sync::seal_ack(&ack, &key);
        let again = sync::open_ack(&resealed.body, Some(&resealed.signature), &key, &ack.nonce).expect("round trip");
        assert_eq!(again, ack);
    } else if let Err(e) = sync::open_ack(body, Some(&ack_tag), &key, "n") {
        check_sync_error(&e);
        assert!(matches!(e, SyncError::Malformed(_)), "a sealed ack refused with {e:?}");
    }
}

fn orgs_of(body: &sync::SyncBody) -> &[embedgate_core::OrgChanges] {
    match body {
        sync::SyncBody::Probe => &[],
        sync::SyncBody::Delta { orgs, .. } | sync::SyncBody::Full { orgs, .. } => orgs,
    }
}

fn check_request(request: &SyncRequest, key: &SyncKey) {
    assert!(!request.nonce.is_empty() && request.nonce.len() <= 128);
    let resealed = sync::seal_request(request, key);
    let again = sync::open_request(&resealed.body, Some(&resealed.signature), key).expect("a request round-trips");
    assert_eq!(&again, request);
    let orgs = match &request.body {
        sync::SyncBody::Probe => return,
        sync::SyncBody::Delta { from, to, .. } => {
            assert!(from < to && *to <= request.version, "an opened delta goes forward within the admin's version");
            orgs_of(&request.body)
        }
        sync::SyncBody::Full { to, .. } => {
            assert!(*to <= request.version);
            orgs_of(&request.body)
        }
    };
    // A replica takes a message it admits, and taking it twice changes nothing.
    let mut meta = embedgate_core::replica::ReplicaMeta::default();
    let lineage = &request.lineage;
    if meta.admit(lineage, &request.body) == embedgate_core::replica::Admit::Proceed {
        meta.commit(lineage, &request.body, request.sent_at);
        let version = meta.version;
        if meta.admit(lineage, &request.body) == embedgate_core::replica::Admit::Proceed {
            meta.commit(lineage, &request.body, request.sent_at);
        }
        assert!(meta.version >= version, "a replica went back");
    }
    for org in orgs {
        if org.check().is_err() {
            continue;
        }
        // Records applied only when newer end with the newest of each, however often delivered.
        let mut held: std::collections::HashMap<&str, &EdgeCredential> = std::collections::HashMap::new();
        for pass in 0..2 {
            for c in &org.credentials {
                if c.newer_than(held.get(c.client_id.as_str()).map(|h| h.version)) {
                    assert_eq!(pass, 0, "a record was applied twice");
                    held.insert(c.client_id.as_str(), c);
                }
                let record = c.record(&org.org, org.owners.iter().find(|o| o.email == c.owner));
                assert!(!record.generations.is_empty() && record.generations.len() <= embedgate_core::MAX_LIVE_SECRETS);
                let _ = record.policy.allowed_origins.frame_ancestors();
            }
        }
        assert_eq!(held.len(), org.credentials.len());
    }
}
