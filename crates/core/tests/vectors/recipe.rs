//! Builds the token cases of `tokens.json` (shared by the core's tests, on
//! native and wasm32, and the CLI's tests through `#[path]`).
//!
//! A case starts from `defaults` (a valid token and an admin-owned
//! credential) and changes what it names: header or claim members (`header`,
//! `claims`; `header_remove`, `claims_remove`), raw JSON text (`raw_header`,
//! `raw_payload`), a literal `token`, a signing secret (`sign_with`), a
//! `mutate` step on the signed token, the credential (`owner`, `org`,
//! `privileges`, `allowed_origins`, `max_token_lifetime_s`,
//! `not_before_cutoff`, `revoked`), the request (`url_org`, `origin`,
//! `seen_jtis`) or the validation (`audience`, `leeway_s`, `now`); `identity`
//! names members the verified identity must have (what the edge forwards).
//! String values may be templates: `$now`, `$now+N`, `$now-N`, `$client_id`,
//! `$repeat:N:c` (c repeated N times).
//!
//! Asymmetric credentials: `defaults.keys` names private JWKs (test keys,
//! made for these vectors and used nowhere else); `sign_jwk` signs the token
//! with one of them, and the credential holds its public key unless
//! `credential_jwk` names another. `sign_with: "$public_key"` signs with the
//! credential's public JWK text as an HMAC secret (the algorithm-confusion attack).

#![allow(dead_code, clippy::missing_panics_doc, clippy::many_single_char_names, clippy::unwrap_used)]

use embedgate_core::jws::{b64url_decode, b64url_encode, Hs256Key};
use embedgate_core::{sign_raw, sign_raw_with_key, OfflineCheck, SigningJwk};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The vector file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub description: String,
    pub defaults: Defaults,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub now: i64,
    pub client_id: String,
    pub secret: String,
    pub org: String,
    pub owner: OwnerSpec,
    pub privileges: Vec<String>,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// Named private JWKs for the asymmetric cases.
    #[serde(default)]
    pub keys: Map<String, Value>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct OwnerSpec {
    pub email: String,
    pub account_type: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub expect: String,
    #[serde(default)]
    pub header: Map<String, Value>,
    #[serde(default)]
    pub header_remove: Vec<String>,
    #[serde(default)]
    pub claims: Map<String, Value>,
    #[serde(default)]
    pub claims_remove: Vec<String>,
    pub raw_header: Option<String>,
    pub raw_payload: Option<String>,
    pub token: Option<String>,
    pub sign_with: Option<String>,
    /// Sign with this named private JWK (ES256 or EdDSA).
    pub sign_jwk: Option<String>,
    /// The credential holds the public key of this named JWK (default: `sign_jwk`'s).
    pub credential_jwk: Option<String>,
    pub mutate: Option<String>,
    pub owner: Option<OwnerSpec>,
    pub org: Option<String>,
    pub privileges: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub max_token_lifetime_s: Option<u64>,
    pub not_before_cutoff: Option<Value>,
    #[serde(default)]
    pub revoked: bool,
    pub url_org: Option<String>,
    pub origin: Option<String>,
    #[serde(default)]
    pub seen_jtis: Vec<String>,
    pub audience: Option<String>,
    pub leeway_s: Option<u64>,
    /// Members the verified identity must have (what the edge forwards).
    pub identity: Option<Map<String, Value>>,
}

/// One case, ready to run: the token and everything the verifier is told.
#[derive(Debug, Clone)]
pub struct Built {
    pub name: String,
    pub expect: String,
    pub token: String,
    pub now: i64,
    pub client_id: String,
    /// The credential's key as the verifier is given it: the embed secret,
    /// or a public JWK's JSON (`key_is_public`).
    pub key: String,
    pub key_is_public: bool,
    pub org: String,
    pub owner: OwnerSpec,
    pub privileges: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub max_token_lifetime_s: Option<u64>,
    pub not_before_cutoff: Option<i64>,
    pub revoked: bool,
    pub url_org: Option<String>,
    pub origin: Option<String>,
    pub seen_jtis: Vec<String>,
    pub audience: String,
    pub leeway_s: u64,
    pub identity: Option<Map<String, Value>>,
}

/// Parses the vector file.
pub fn load(json: &str) -> File {
    serde_json::from_str(json).expect("tokens.json is valid")
}

fn template(v: &Value, now: i64, client_id: &str) -> Value {
    let Value::String(s) = v else { return v.clone() };
    if s == "$client_id" {
        return Value::String(client_id.to_owned());
    }
    if let Some(rest) = s.strip_prefix("$repeat:") {
        let (n, c) = rest.split_once(':').expect("$repeat:N:c");
        return Value::String(c.repeat(n.parse().expect("count")));
    }
    if let Some(rest) = s.strip_prefix("$now") {
        let offset: i64 = if rest.is_empty() { 0 } else { rest.trim_start_matches('+').parse().expect("offset") };
        return Value::from(now + offset);
    }
    v.clone()
}

fn merged(
    base: &Map<String, Value>,
    set: &Map<String, Value>,
    remove: &[String],
    now: i64,
    cid: &str,
) -> Map<String, Value> {
    let mut out: Map<String, Value> = base.iter().map(|(k, v)| (k.clone(), template(v, now, cid))).collect();
    for (k, v) in set {
        out.insert(k.clone(), template(v, now, cid));
    }
    for k in remove {
        out.remove(k);
    }
    out
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.splitn(3, '.');
    let h = it.next().unwrap_or_default().to_owned();
    let p = it.next().unwrap_or_default().to_owned();
    let s = it.next().unwrap_or_default().to_owned();
    (h, p, s)
}

/// Builds one case.
pub fn build(d: &Defaults, c: &Case) -> Built {
    let now = d.now;
    let cid = d.client_id.as_str();
    let header = merged(&d.header, &c.header, &c.header_remove, now, cid);
    let mut claims = merged(&d.claims, &c.claims, &c.claims_remove, now, cid);
    let named = |name: &str| {
        let jwk = d.keys.get(name).unwrap_or_else(|| panic!("no key {name} in defaults.keys"));
        SigningJwk::parse(&jwk.to_string()).expect("a private JWK")
    };
    let signer = c.sign_jwk.as_deref().map(named);
    let public = c.credential_jwk.as_deref().map(named).as_ref().or(signer.as_ref()).map(SigningJwk::public);
    let verifier_key = public.as_ref().map_or_else(|| d.secret.clone(), |k| serde_json::to_string(k).unwrap());
    let hmac_secret = match c.sign_with.as_deref() {
        Some("$public_key") => verifier_key.clone(),
        other => other.unwrap_or(&d.secret).to_owned(),
    };
    let key = Hs256Key::new(hmac_secret.as_bytes());
    let sign = |h: &[u8], p: &[u8]| match &signer {
        Some(k) => sign_raw_with_key(h, p, k),
        None => sign_raw(h, p, &key),
    };
    let header_text = c.raw_header.clone().unwrap_or_else(|| Value::Object(header.clone()).to_string());
    let payload_text = c.raw_payload.clone().unwrap_or_else(|| Value::Object(claims.clone()).to_string());
    let mut token = match &c.token {
        Some(t) => t.clone(),
        None => sign(header_text.as_bytes(), payload_text.as_bytes()),
    };
    if let Some(m) = c.mutate.as_deref() {
        let (h, p, s) = parts(&token);
        token = match m.split_once(':').unwrap_or((m, "")) {
            ("tamper_payload", _) => {
                claims.insert("sub".into(), "mallory@example.com".into());
                format!("{h}.{}.{s}", b64url_encode(Value::Object(claims.clone()).to_string().as_bytes()))
            }
            ("truncate_signature", _) => format!("{h}.{p}.{}", b64url_encode(&b64url_decode(&s).expect("sig")[..16])),
            ("empty_signature", _) => format!("{h}.{p}."),
            ("two_parts", _) => format!("{h}.{p}"),
            ("extra_part", _) => format!("{token}.{s}"),
            ("pad_signature", _) => format!("{token}="),
            ("flip_signature_bit", _) => {
                let mut sig = b64url_decode(&s).expect("sig");
                sig[0] ^= 1;
                format!("{h}.{p}.{}", b64url_encode(&sig))
            }
            ("noncanonical_signature", _) => {
                // The last of 43 characters carries 4 bits and 2 must-be-zero bits: set one.
                const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                let last = s.as_bytes()[s.len() - 1];
                let v = ALPHA.iter().position(|&a| a == last).expect("b64 char");
                format!("{h}.{p}.{}{}", &s[..s.len() - 1], char::from(ALPHA[v | 1]))
            }
            ("length", n) => exact_length(&header, &claims, n.parse().expect("length"), &sign),
            (other, _) => panic!("unknown mutation {other}"),
        };
    }
    Built {
        name: c.name.clone(),
        expect: c.expect.clone(),
        token,
        now,
        client_id: d.client_id.clone(),
        key_is_public: public.is_some(),
        key: verifier_key,
        org: c.org.clone().unwrap_or_else(|| d.org.clone()),
        owner: c.owner.clone().unwrap_or_else(|| d.owner.clone()),
        privileges: c.privileges.clone().unwrap_or_else(|| d.privileges.clone()),
        allowed_origins: c.allowed_origins.clone(),
        max_token_lifetime_s: c.max_token_lifetime_s,
        not_before_cutoff: c.not_before_cutoff.as_ref().map(|v| template(v, now, cid).as_i64().expect("cutoff")),
        revoked: c.revoked,
        url_org: c.url_org.clone(),
        origin: c.origin.clone(),
        seen_jtis: c.seen_jtis.clone(),
        audience: c.audience.clone().unwrap_or_else(|| "embedgate".to_owned()),
        leeway_s: c.leeway_s.unwrap_or(60),
        identity: c.identity.clone(),
    }
}

/// A validly signed token of exactly `n` bytes: pads a claim and a header
/// member (base64 lengths move in steps of 1 or 2, so both are needed).
fn exact_length(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    n: usize,
    sign: &dyn Fn(&[u8], &[u8]) -> String,
) -> String {
    for hpad in 0..4 {
        let mut h = header.clone();
        h.insert("x".into(), "h".repeat(hpad).into());
        let h = Value::Object(h).to_string();
        let fixed = sign(h.as_bytes(), Value::Object(claims.clone()).to_string().as_bytes()).len();
        let start = (n.saturating_sub(fixed) * 3 / 4).saturating_sub(16);
        for ppad in start..start + 32 {
            let mut c = claims.clone();
            c.insert("pad".into(), "p".repeat(ppad).into());
            let t = sign(h.as_bytes(), Value::Object(c).to_string().as_bytes());
            if t.len() == n {
                return t;
            }
        }
    }
    panic!("no padding reaches {n} bytes");
}

impl Built {
    /// The case's credential, request and validation as the options object
    /// of the browser module (an [`OfflineCheck`] in JSON).
    pub fn options_json(&self) -> Value {
        let mut o = serde_json::json!({
            "client_id": self.client_id,
            "org": self.org,
            "owner": self.owner.email,
            "owner_account_type": self.owner.account_type,
            "privileges": self.privileges,
            "allowed_origins": self.allowed_origins,
            "revoked": self.revoked,
            "seen_jtis": self.seen_jtis,
            "audience": self.audience,
            "leeway": self.leeway_s,
            "now": self.now,
        });
        if let Some(org) = &self.url_org {
            o["url"] = format!("/{org}/workbook/wb-1").into();
        }
        if let Some(origin) = &self.origin {
            o["origin"] = origin.clone().into();
        }
        if let Some(max) = self.max_token_lifetime_s {
            o["max_token_lifetime"] = max.into();
        }
        if let Some(cutoff) = self.not_before_cutoff {
            o["not_before_cutoff"] = cutoff.into();
        }
        o
    }

    /// The case as an [`OfflineCheck`].
    pub fn offline_check(&self) -> OfflineCheck {
        serde_json::from_value(self.options_json()).unwrap()
    }

    /// The `embedgate verify` arguments that describe the case, reading the
    /// secret from `secret_var` (a public key is given as `--public-key JSON`) and ending with `-- TOKEN` (a token may be
    /// empty or start with `-`).
    pub fn verify_args(&self, secret_var: &str) -> Result<Vec<String>, String> {
        if self.privileges.is_empty() {
            return Err("the CLI cannot express a credential with no privileges".to_owned());
        }
        let mut args: Vec<String> = [
            "verify",
            "--client-id",
            &self.client_id,
            if self.key_is_public { "--public-key" } else { "--secret-env" },
            if self.key_is_public { &self.key } else { secret_var },
            "--owner",
            &self.owner.email,
            "--owner-account-type",
            &self.owner.account_type,
            "--org",
            &self.org,
            "--privileges",
            &self.privileges.join(","),
            "--audience",
            &self.audience,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.push(format!("--leeway={}", self.leeway_s));
        args.push(format!("--now={}", self.now));
        for origin in &self.allowed_origins {
            args.extend(["--allowed-origin".to_owned(), origin.clone()]);
        }
        if let Some(max) = self.max_token_lifetime_s {
            args.push(format!("--max-token-lifetime={max}"));
        }
        if let Some(cutoff) = self.not_before_cutoff {
            args.push(format!("--not-before-cutoff={cutoff}"));
        }
        if self.revoked {
            args.push("--revoked".to_owned());
        }
        if let Some(org) = &self.url_org {
            args.extend(["--url".to_owned(), format!("/{org}/workbook/wb-1")]);
        }
        if let Some(origin) = &self.origin {
            args.extend(["--origin".to_owned(), origin.clone()]);
        }
        for jti in &self.seen_jtis {
            args.extend(["--seen-jti".to_owned(), jti.clone()]);
        }
        args.extend(["--".to_owned(), self.token.clone()]);
        Ok(args)
    }
}
