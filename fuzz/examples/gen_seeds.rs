//! Writes the seed corpus, `fuzz/seeds/<target>/`, from the test vectors
//! (`crates/core/tests/vectors/tokens.json`, built with its `recipe.rs`),
//! and runs every seed through its target once (natively, no sanitizer), so
//! a seed that already fails is caught here with a readable panic.
//!
//! `cargo run --example gen_seeds --no-default-features [-- OUT_DIR]`
//! (`cargo xtask fuzz` runs it when a seed directory is missing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embedgate_core::jws::b64url_decode;
use embedgate_core::sync::{self, SyncAck, SyncBody, SyncOutcome, SyncRequest, Usage};
use embedgate_core::{EdgeCredential, EdgeOwner, OrgChanges};
use embedgate_fuzz as fz;

#[path = "../../crates/core/tests/vectors/recipe.rs"]
mod recipe;

const TOKENS: &str = include_str!("../../crates/core/tests/vectors/tokens.json");

/// Seeds of one target, by file name (a BTreeMap: stable names, no duplicates).
type Seeds = BTreeMap<String, Vec<u8>>;

fn with_mode(mode: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(rest);
    out
}

fn token_seeds(file: &recipe::File) -> (Seeds, Seeds) {
    let mut verify = Seeds::new();
    let mut offline = Seeds::new();
    for case in &file.cases {
        let b = recipe::build(&file.defaults, case);
        let name = &b.name;
        verify.insert(format!("{name}.raw"), with_mode(0, b.token.as_bytes()));
        // The vector's context and policy variants: org + origin, and a policy.
        verify.insert(format!("{name}.raw-ctx"), with_mode(0b1100, b.token.as_bytes()));
        // The decoded header and payload, to be re-signed by the target.
        let mut parts = b.token.splitn(3, '.');
        if let (Some(Some(h)), Some(Some(p))) = (parts.next().map(b64url_decode), parts.next().map(b64url_decode)) {
            let mut rest = h;
            rest.push(b'\n');
            rest.extend_from_slice(&p);
            verify.insert(format!("{name}.signed"), with_mode(1, &rest));
            verify.insert(format!("{name}.signed-nonadmin"), with_mode(0b0011, &rest));
        }
        let mut o = serde_json::to_vec(&b.options_json()).expect("JSON");
        o.push(0);
        o.extend_from_slice(b.token.as_bytes());
        offline.insert(name.clone(), o);
    }
    offline.insert("defaults_only".into(), b"{}".to_vec());
    (verify, offline)
}

/// The vectors' public keys (and their private JWKs, which must be refused),
/// and their asymmetric cases' tokens, raw and to be re-signed.
fn public_key_seeds(file: &recipe::File) -> Seeds {
    let mut seeds = Seeds::new();
    for (name, jwk) in &file.defaults.keys {
        seeds.insert(format!("{name}.private"), with_mode(0, jwk.to_string().as_bytes()));
        let public = embedgate_core::SigningJwk::parse(&jwk.to_string()).expect("a vector key").public();
        seeds.insert(format!("{name}.public"), with_mode(0, serde_json::to_string(&public).expect("JSON").as_bytes()));
    }
    for case in file.cases.iter().filter(|c| c.sign_jwk.is_some()) {
        let b = recipe::build(&file.defaults, case);
        let mode = if case.sign_jwk.as_deref().is_some_and(|k| k.starts_with("ed25519")) { 0b11 } else { 0b01 };
        seeds.insert(format!("{}.raw", b.name), with_mode(mode, b.token.as_bytes()));
        let mut parts = b.token.splitn(3, '.');
        if let (Some(Some(h)), Some(Some(p))) = (parts.next().map(b64url_decode), parts.next().map(b64url_decode)) {
            let mut rest = h;
            rest.push(b'\n');
            rest.extend_from_slice(&p);
            seeds.insert(format!("{}.signed", b.name), with_mode(mode | 0b100, &rest));
        }
    }
    seeds
}

/// The records as the admin pushes them, grouped by org.
fn orgs(version: u64, records: Vec<embedgate_core::CredentialRecord>) -> Vec<OrgChanges> {
    let mut orgs: BTreeMap<embedgate_core::OrgSlug, OrgChanges> = BTreeMap::new();
    for r in records {
        let org = orgs.entry(r.org.clone()).or_insert_with(|| OrgChanges::new(r.org.clone()));
        if !org.owners.iter().any(|o| o.email == r.owner.email) {
            org.owners.push(EdgeOwner {
                email: r.owner.email.clone(),
                account_type: r.owner.account_type,
                status: embedgate_core::rules::MemberStatus::Active,
                version,
            });
        }
        org.credentials.push(EdgeCredential {
            client_id: r.client_id,
            owner: r.owner.email,
            privileges: r.privileges,
            secrets: r
                .generations
                .iter()
                .map(|&generation| embedgate_core::SecretGeneration { generation, key: None, public_key: None })
                .collect(),
            policy: r.policy,
            revoked_at: r.revoked_at,
            version,
        });
        org.complete = true;
    }
    orgs.into_values().collect()
}

fn request(version: u64, body: SyncBody, nonce: &str) -> SyncRequest {
    SyncRequest {
        lineage: "seed".into(),
        version,
        body,
        usage_after: BTreeMap::new(),
        users_after: [(embedgate_core::Region::Wnam, 3)].into(),
        nonce: nonce.into(),
        sent_at: fz::NOW,
    }
}

fn sync_seeds() -> Seeds {
    let mut seeds = Seeds::new();
    let key = fz::sync_key();
    let admin = fz::record(false, false);
    let mut policy = fz::record(true, true);
    policy.client_id = "fedcba9876543210fedcba9876543210".parse().expect("id");
    policy.generations.push(2);
    let mut revoked = fz::record(false, false);
    revoked.client_id = "00000000000000000000000000000001".parse().expect("id");
    revoked.org = "globex".parse().expect("org");
    revoked.revoked_at = Some(fz::NOW - 10);
    let full = |to, seq, last, records| SyncBody::Full {
        id: "f".into(),
        to,
        seq,
        last,
        replace: false,
        orgs: orgs(to, records),
    };
    let requests = [
        ("full_one", request(1, full(1, 0, true, vec![admin.clone()]), "n1")),
        (
            "full_three",
            request(
                7,
                full(7, 0, true, vec![admin.clone(), policy.clone(), revoked.clone()]),
                "0123456789abcdef0123456789abcdef",
            ),
        ),
        ("full_page", request(7, full(7, 1, false, vec![policy.clone()]), "n")),
        ("full_empty", request(2, full(2, 0, true, vec![]), "n")),
        ("full_duplicate", request(3, full(3, 0, true, vec![admin.clone(), admin.clone()]), "n")),
        ("delta", request(9, SyncBody::Delta { from: 7, to: 9, last: true, orgs: orgs(9, vec![revoked]) }, "d")),
        ("probe", request(9, SyncBody::Probe, "probe")),
    ];
    for (name, request) in requests {
        let sealed = sync::seal_request(&request, &key);
        seeds.insert(format!("request_{name}.sealed"), with_mode(1, &sealed.body));
        let mut raw = sealed.signature.clone().into_bytes();
        raw.push(b'\n');
        raw.extend_from_slice(&sealed.body);
        seeds.insert(format!("request_{name}.raw"), with_mode(0, &raw));
    }
    let ack = SyncAck {
        applied_version: 7,
        applied_issued_at: fz::NOW,
        regions: vec![sync::RegionAck {
            region: embedgate_core::Region::Wnam,
            lineage: "seed".into(),
            version: 7,
            full: None,
            error: None,
        }],
        outcome: SyncOutcome::Applied,
        usage: vec![Usage { client_id: fz::CLIENT_ID.into(), last_used_at: fz::NOW }],
        usage_cursor: [(embedgate_core::Region::Wnam, 4)].into(),
        users: [(
            embedgate_core::Region::Wnam,
            vec![embedgate_core::usage::EmbedUse {
                client_id: fz::CLIENT_ID.into(),
                sub: "ana@example.com".into(),
                account_type: Some(embedgate_core::AccountType::Viewer),
                teams: vec!["sales".into()],
                first_seen: fz::NOW - 60,
                last_seen: fz::NOW,
                loads: 3,
            }],
        )]
        .into(),
        users_cursor: [(embedgate_core::Region::Wnam, 5)].into(),
        users_dropped: 1,
        nonce: "n".into(),
    };
    let sealed = sync::seal_ack(&ack, &key);
    seeds.insert("ack.sealed".into(), with_mode(1, &sealed.body));
    let mut raw = sealed.signature.into_bytes();
    raw.push(b'\n');
    raw.extend_from_slice(&sealed.body);
    seeds.insert("ack.raw".into(), with_mode(0, &raw));
    seeds
}

/// Bodies for the admin's endpoints (selector: 0 create credential, 1 patch
/// credential, 2 create member, 3 patch member).
fn admin_seeds() -> Seeds {
    let member = "member@acme.test";
    let bodies: [(&str, u8, String); 12] = [
        ("credential_minimal", 0, format!(r#"{{"name":"seed","owner":"{member}","privileges":["embedding"]}}"#)),
        ("credential_full", 0, format!(
            r#"{{"name":"seed full","description":"Host app","owner":"{member}","privileges":["embedding"],"allowed_origins":["https://app.example.com","http://127.0.0.1:3000/"],"max_token_lifetime_s":3600,"not_before_cutoff":{}}}"#,
            fz::NOW
        )),
        ("credential_nulls", 0, format!(r#"{{"name":"n","owner":"{member}","privileges":["api"],"description":null,"allowed_origins":null,"max_token_lifetime_s":null,"not_before_cutoff":null}}"#)),
        ("credential_bad_types", 0, r#"{"name":1,"owner":["x"],"privileges":"embedding","max_token_lifetime_s":1e99}"#.to_owned()),
        ("patch_name", 1, r#"{"name":"renamed"}"#.to_owned()),
        ("patch_all", 1, r#"{"name":"p","description":"d","privileges":["embedding"],"allowed_origins":["https://a.example"],"max_token_lifetime_s":60,"not_before_cutoff":0}"#.to_owned()),
        ("patch_clear", 1, r#"{"description":null,"allowed_origins":null,"max_token_lifetime_s":null,"not_before_cutoff":null}"#.to_owned()),
        ("patch_empty", 1, "{}".to_owned()),
        ("member_create", 2, r#"{"email":"new@acme.test","account_type":"viewer"}"#.to_owned()),
        ("member_create_odd", 2, r#"{"email":"  MiXeD@Acme.Test ","account_type":"explorer","extra":true}"#.to_owned()),
        ("member_patch", 3, r#"{"account_type":"explorer"}"#.to_owned()),
        ("not_an_object", 3, r#"["account_type","admin"]"#.to_owned()),
    ];
    bodies.into_iter().map(|(name, selector, body)| (name.to_owned(), with_mode(selector, body.as_bytes()))).collect()
}

fn write(dir: &Path, seeds: &Seeds) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        std::fs::write(dir.join(format!("seed-{safe}")), bytes)?;
    }
    Ok(seeds.values().map(Vec::len).sum())
}

fn main() -> std::io::Result<()> {
    let out =
        std::env::args_os().nth(1).map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"), PathBuf::from);
    let file = recipe::load(TOKENS);
    let (verify, offline) = token_seeds(&file);
    let sync = sync_seeds();
    let admin = admin_seeds();
    let public = public_key_seeds(&file);
    let targets: [(&str, &Seeds, Option<fn(&[u8])>); 5] = [
        ("verify_token", &verify, Some(fz::verify_token)),
        ("offline_check", &offline, Some(fz::offline_check)),
        ("public_key", &public, Some(fz::public_key)),
        ("sync_open", &sync, Some(fz::sync_open)),
        ("admin_bodies", &admin, None),
    ];
    for (target, seeds, run) in targets {
        if let Some(run) = run {
            for (name, bytes) in seeds {
                let outcome = std::panic::catch_unwind(|| run(bytes));
                assert!(outcome.is_ok(), "seed {target}/{name} fails its target");
            }
        }
        let bytes = write(&out.join(target), seeds)?;
        println!("{target}: {} seeds, {bytes} bytes", seeds.len());
    }
    Ok(())
}
