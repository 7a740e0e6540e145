//! Verifying one token against a credential described in full, with no edge
//! state: what `embedgate verify`, the browser inspector (`embedgate-wasm`)
//! and the test vectors do. One description, [`OfflineCheck`], so the three
//! give the same answer by construction.
//!
//! [`OfflineCheck::explain`] runs the same verification and reports every
//! rule of architecture.md §4 in order, with its verdict: the inspector's table.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, KeyRing, Owner, Policy};
use crate::embed_url::EmbedTarget;
use crate::error::VerifyError;
use crate::rules::{AllowedOrigins, Email, TokenLifetime};
use crate::types::{AccountType, ClientId, OrgSlug, Privilege};
use crate::unverified::UnverifiedToken;
use crate::validation::{check_header, EmbedContext, Identity, Validation};

/// A credential and the circumstances of one embed load, described in
/// plain values (all but the secret, which is passed on its own). Field
/// names are those of the JSON the browser module takes; every field is
/// optional there and defaults as documented.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfflineCheck {
    /// The credential's client ID (default: the token's `kid`, so only the secret decides).
    pub client_id: Option<String>,
    /// The credential's org (default: the org of `url`, so only a disagreement is a mismatch).
    pub org: Option<String>,
    /// The embed URL being loaded (`/{org}/{kind}/{id}`, absolute or not): its org is checked.
    pub url: Option<String>,
    /// The owner's email (required unless the owner is an admin).
    pub owner: Option<String>,
    /// The owner's account type (default `admin`).
    pub owner_account_type: String,
    /// The credential's privileges (default `embedding`).
    pub privileges: Vec<String>,
    /// Origins allowed to frame the embed (empty: any).
    pub allowed_origins: Vec<String>,
    /// The origin of the page framing the embed, when known.
    pub origin: Option<String>,
    /// The credential's own token-lifetime limit, in seconds.
    pub max_token_lifetime: Option<u64>,
    /// Tokens issued before this Unix time are refused (`credential_revoked`).
    pub not_before_cutoff: Option<i64>,
    /// The credential is revoked.
    pub revoked: bool,
    /// `jti`s the edge has already seen: such a token is `replayed`.
    pub seen_jtis: Vec<String>,
    /// The audience `ver: "1.1"` tokens must name (default `embedgate`).
    pub audience: String,
    /// Clock-skew leeway in seconds (default 60).
    pub leeway: u64,
    /// Verify as of this Unix time (default: the clock the caller passes).
    pub now: Option<i64>,
}

impl Default for OfflineCheck {
    fn default() -> Self {
        let validation = Validation::default();
        Self {
            client_id: None,
            org: None,
            url: None,
            owner: None,
            owner_account_type: AccountType::Admin.as_str().to_owned(),
            privileges: vec![Privilege::Embedding.as_str().to_owned()],
            allowed_origins: Vec::new(),
            origin: None,
            max_token_lifetime: None,
            not_before_cutoff: None,
            revoked: false,
            seen_jtis: Vec::new(),
            audience: validation.audience,
            leeway: validation.leeway_s,
            now: None,
        }
    }
}

/// A description that cannot be a credential: the caller's mistake, not
/// the token's (the CLI exits 2 on it; the browser shows it by the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A field's value is not valid; the field's name and why.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

fn invalid(field: &'static str, why: impl core::fmt::Display) -> OptionsError {
    OptionsError::Invalid(field, why.to_string())
}

/// The credential an [`OfflineCheck`] describes, ready to verify with.
struct Prepared {
    record: CredentialRecord,
    url_org: Option<String>,
    validation: Validation,
}

impl OfflineCheck {
    fn prepare(&self, kid: Option<&str>) -> Result<Prepared, OptionsError> {
        let client_id: ClientId = match (self.client_id.as_deref(), kid) {
            (Some(id), _) => id.trim().parse().map_err(|e| invalid("client_id", e))?,
            // No client ID given: take the token's kid when it can be one, else any
            // well-formed ID (the token then names an unknown client, as it should).
            (None, kid) => kid
                .and_then(|k| k.parse().ok())
                .unwrap_or_else(|| "00000000000000000000000000000000".parse().unwrap_or_else(|_| unreachable!())),
        };
        let owner_type: AccountType = self.owner_account_type.parse().map_err(|e| invalid("owner_account_type", e))?;
        let owner_email = match (self.owner.as_deref().map(str::trim).filter(|e| !e.is_empty()), owner_type) {
            (Some(email), _) => Email::parse(email).map_err(|e| invalid("owner", e))?.into_string(),
            (None, AccountType::Admin) => String::new(),
            (None, _) => return Err(invalid("owner", "the owner's email is required when the owner is not an admin")),
        };
        let url_org = match self.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(
                EmbedTarget::parse(url)
                    .ok_or_else(|| invalid("url", "not an embed URL like /acme/workbook/123"))?
                    .org
                    .to_owned(),
            ),
            None => None,
        };
        let org_text = self.org.as_deref().map(str::trim).filter(|o| !o.is_empty());
        // The credential's org: the given one, else the URL's (only a disagreement is a mismatch).
        let org: OrgSlug = match (org_text, &url_org) {
            (Some(org), _) => org.parse().map_err(|e| invalid("org", e))?,
            (None, Some(u)) => u.parse().map_err(|e| invalid("url", e))?,
            (None, None) => "-".parse().map_err(|e| invalid("org", e))?,
        };
        let privileges = self
            .privileges
            .iter()
            .map(|p| p.trim().parse::<Privilege>())
            .collect::<Result<BTreeSet<_>, _>>()
            .map_err(|e| invalid("privileges", e))?;
        let allowed_origins =
            AllowedOrigins::parse(&self.allowed_origins).map_err(|e| invalid("allowed_origins", e))?;
        let max_token_lifetime_s = self
            .max_token_lifetime
            .map(|s| TokenLifetime::new(i64::try_from(s).unwrap_or(i64::MAX)))
            .transpose()
            .map_err(|e| invalid("max_token_lifetime", e))?;
        let validation = Validation { leeway_s: self.leeway, audience: self.audience.clone(), ..Validation::default() };
        let record = CredentialRecord {
            client_id,
            org,
            owner: Owner { email: owner_email, account_type: owner_type },
            privileges,
            generations: vec![1],
            policy: Policy { allowed_origins, max_token_lifetime_s, not_before_cutoff: self.not_before_cutoff },
            revoked_at: self.revoked.then_some(0),
        };
        Ok(Prepared { record, url_org, validation })
    }

    /// Checks the description alone (before any token is at hand).
    pub fn validate(&self) -> Result<(), OptionsError> {
        self.prepare(None).map(drop)
    }

    /// Verifies `token` exactly as the edge does, with the replay check
    /// against `seen_jtis`. `clock_now` is used unless `now` is set.
    ///
    /// The outer error is a bad description; the inner result is the token's verdict.
    ///
    /// `keys`: the credential's key as the caller holds it, usually
    /// [`KeyRing::from_key_text`] (its embed secret, or its public JWK).
    pub fn verify(
        &self,
        token: &str,
        keys: &KeyRing,
        clock_now: i64,
    ) -> Result<Result<Identity, VerifyError>, OptionsError> {
        // Parsed once: its kid may name the credential, then it is verified.
        let parsed = UnverifiedToken::parse(token, Validation::default().max_token_bytes);
        let kid = parsed.as_ref().ok().and_then(UnverifiedToken::kid).map(std::borrow::Cow::into_owned);
        let p = self.prepare(kid.as_deref())?;
        let ctx = EmbedContext { org: p.url_org.as_deref(), origin: self.origin.as_deref() };
        let now = self.now.unwrap_or(clock_now);
        let verified = parsed.and_then(|t| p.validation.verify_parsed(t, now, &ctx, |_| Some((&p.record, keys))));
        let verified = verified.and_then(|v| {
            if self.seen_jtis.iter().any(|j| *j == v.jti()) {
                Err(VerifyError::Replayed)
            } else {
                Ok(v)
            }
        });
        Ok(verified.map(|v| v.identity()))
    }

    /// Verifies as [`OfflineCheck::verify`] does and reports each rule of
    /// architecture.md §4 in order. Without a key (secret or public key) only
    /// the rules before the signature can be judged; the rest are reported as
    /// not reached.
    pub fn explain(&self, token: &str, keys: Option<&KeyRing>, clock_now: i64) -> Result<Report, OptionsError> {
        // Both paths below check the description before the token, so a bad
        // one is reported whatever the token.
        let rule_of = |e: &VerifyError| {
            if token.len() > Validation::default().max_token_bytes {
                Rule::Size
            } else {
                Rule::of(e)
            }
        };
        let (failed, result) = match keys {
            Some(keys) => match self.verify(token, keys, clock_now)? {
                Ok(identity) => (None, Outcome::Accepted(self.accepted_json(&identity))),
                Err(e) => (Some((rule_of(&e), e)), Outcome::refused(e)),
            },
            None => match self.check_without_secret(token)? {
                Ok(()) => (
                    None,
                    Outcome::Unverified {
                        pending: "signature_not_checked",
                        message: "give the embed secret (or the public key) to check the signature and the claims"
                            .to_owned(),
                    },
                ),
                Err(e) => (Some((rule_of(&e), e)), Outcome::refused(e)),
            },
        };
        let rules = Rule::ALL
            .iter()
            .map(|&rule| {
                let verdict = match failed {
                    Some((f, _)) if rule == f => Verdict::Fail,
                    Some((f, _)) if rule > f => Verdict::NotReached,
                    _ if keys.is_none() && rule >= Rule::Signature => Verdict::NotReached,
                    _ if self.skipped(rule) => Verdict::Skipped,
                    _ => Verdict::Pass,
                };
                let detail = failed.filter(|(f, _)| *f == rule).map(|(_, e)| e.to_string());
                RuleVerdict { rule, title: rule.title(), verdict, detail }
            })
            .collect();
        Ok(Report { result, rules })
    }

    /// The one-line JSON answer of `embedgate verify` and the browser module:
    /// `{"ok":true,"sub":…,…}` or `{"error":code,"message":…}`.
    pub fn answer(&self, result: &Result<Identity, VerifyError>) -> serde_json::Value {
        match result {
            Ok(identity) => self.accepted_json(identity),
            Err(e) => serde_json::json!({"error": e.code(), "message": e.to_string()}),
        }
    }

    fn accepted_json(&self, identity: &Identity) -> serde_json::Value {
        let mut body = serde_json::to_value(identity).unwrap_or_else(|_| serde_json::json!({}));
        body["ok"] = serde_json::Value::Bool(true);
        let blank = |o: &Option<String>| o.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.org) && blank(&self.url) {
            // No org was described: do not make one up.
            body["org"] = serde_json::Value::Null;
        }
        body
    }

    /// The rules before the signature, which need no secret; `Ok(())` when
    /// they all pass. The `kid` rule needs only a description when a client ID is given.
    fn check_without_secret(&self, token: &str) -> Result<Result<(), VerifyError>, OptionsError> {
        // The description is checked first, whatever the token (as `verify` does).
        let parsed = UnverifiedToken::parse(token, Validation::default().max_token_bytes);
        let kid = parsed.as_ref().ok().and_then(UnverifiedToken::kid).map(std::borrow::Cow::into_owned);
        let p = self.prepare(kid.as_deref())?;
        Ok(parsed.and_then(|t| check_header(&t)).and_then(|()| match kid {
            Some(k) if k == p.record.client_id.as_str() => Ok(()),
            _ => Err(VerifyError::UnknownClient),
        }))
    }

    /// A rule passed only because there was nothing to check it against.
    fn skipped(&self, rule: Rule) -> bool {
        let blank = |o: &Option<String>| o.as_deref().is_none_or(|s| s.trim().is_empty());
        match rule {
            Rule::Org => blank(&self.url),
            Rule::Origin => blank(&self.origin) || self.allowed_origins.is_empty(),
            Rule::Replay => self.seen_jtis.is_empty(),
            _ => false,
        }
    }
}

/// The rules of architecture.md §4, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// At most 8 KiB.
    Size,
    /// Three strict base64url parts; header and payload JSON objects.
    Structure,
    /// `alg` exactly HS256, ES256 or EdDSA (the credential key's), no forbidden header, `typ` JWT if present.
    Header,
    /// `kid` names the credential.
    Kid,
    /// The MAC (or public-key signature) matches a live key.
    Signature,
    /// `sub`, `jti`, `iat`, `exp` present.
    RequiredClaims,
    /// Claim types and values.
    ClaimValues,
    /// `iat` and `nbf` not in the future.
    NotBefore,
    /// Not past `exp`.
    Expiry,
    /// `exp - iat` within the cap.
    Lifetime,
    /// `aud` names the audience when `ver` is 1.1.
    Audience,
    /// A non-admin owner signs only as itself.
    Owner,
    /// The URL's org is the credential's.
    Org,
    /// The credential holds `embedding`.
    Privilege,
    /// Not revoked; issued after the cutoff.
    Revocation,
    /// The framing page's origin is allowed.
    Origin,
    /// The `jti` has not been used.
    Replay,
}

impl Rule {
    /// Every rule, in check order.
    pub const ALL: [Rule; 17] = [
        Rule::Size,
        Rule::Structure,
        Rule::Header,
        Rule::Kid,
        Rule::Signature,
        Rule::RequiredClaims,
        Rule::ClaimValues,
        Rule::NotBefore,
        Rule::Expiry,
        Rule::Lifetime,
        Rule::Audience,
        Rule::Owner,
        Rule::Org,
        Rule::Privilege,
        Rule::Revocation,
        Rule::Origin,
        Rule::Replay,
    ];

    /// The rule whose failure gives `error` (a malformed token fails `Structure`;
    /// [`OfflineCheck::explain`] tells the size limit apart).
    pub const fn of(error: &VerifyError) -> Self {
        match error {
            VerifyError::MalformedToken(_) => Rule::Structure,
            VerifyError::UnsupportedAlgorithm(_) => Rule::Header,
            VerifyError::UnknownClient => Rule::Kid,
            VerifyError::BadSignature => Rule::Signature,
            VerifyError::MissingClaim(_) => Rule::RequiredClaims,
            VerifyError::InvalidClaim(..) => Rule::ClaimValues,
            VerifyError::NotYetValid => Rule::NotBefore,
            VerifyError::Expired => Rule::Expiry,
            VerifyError::LifetimeExceedsLimit => Rule::Lifetime,
            VerifyError::AudienceMismatch => Rule::Audience,
            VerifyError::ImpersonationNotAllowed => Rule::Owner,
            VerifyError::OrgMismatch => Rule::Org,
            VerifyError::PrivilegeMissing => Rule::Privilege,
            VerifyError::CredentialRevoked => Rule::Revocation,
            VerifyError::OriginNotAllowed => Rule::Origin,
            VerifyError::Replayed => Rule::Replay,
        }
    }

    /// A short description for people.
    pub const fn title(self) -> &'static str {
        match self {
            Rule::Size => "Token is at most 8 KiB",
            Rule::Structure => "Three base64url parts; header and claims are JSON objects",
            Rule::Header => {
                "alg is the credential key's (HS256, ES256 or EdDSA); no jku, jwk, x5u, x5c or crit; typ is JWT"
            }
            Rule::Kid => "kid names the credential",
            Rule::Signature => "Signature matches the embed secret or public key",
            Rule::RequiredClaims => "sub, jti, iat and exp are present",
            Rule::ClaimValues => "Claims have valid types and values",
            Rule::NotBefore => "iat and nbf are not in the future",
            Rule::Expiry => "Not expired",
            Rule::Lifetime => "Lifetime (exp − iat) within the limit",
            Rule::Audience => "Audience matches (ver 1.1)",
            Rule::Owner => "Owner rule: a non-admin owner signs only as itself",
            Rule::Org => "The URL's org is the credential's",
            Rule::Privilege => "Credential holds the embedding privilege",
            Rule::Revocation => "Credential not revoked; token issued after the cutoff",
            Rule::Origin => "Framing page's origin is allowed",
            Rule::Replay => "jti not used before",
        }
    }
}

/// How one rule fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Checked and satisfied.
    Pass,
    /// The first failure: it decides the code.
    Fail,
    /// Satisfied only because there was nothing to check it against (no URL, origin or seen jtis given).
    Skipped,
    /// After the failure, or needing the secret that was not given: not checked.
    NotReached,
}

/// One line of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleVerdict {
    /// Which rule.
    pub rule: Rule,
    /// The rule for people ([`Rule::title`]).
    pub title: &'static str,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why it failed (the refusal's message), on the failing rule only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The final answer of a [`Report`]: the JSON of `embedgate verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Outcome {
    /// Every rule passed: `{"ok":true, …the verified identity}` ([`OfflineCheck::answer`]).
    Accepted(serde_json::Value),
    /// The first failed rule's code and message.
    Refused {
        /// The architecture.md §4 code.
        error: &'static str,
        /// A sentence for people (never the token or a secret).
        message: String,
    },
    /// No secret was given and the rules before the signature passed.
    Unverified {
        /// Always `signature_not_checked`.
        pending: &'static str,
        /// A sentence for people.
        message: String,
    },
}

impl Outcome {
    fn refused(e: VerifyError) -> Self {
        Outcome::Refused { error: e.code(), message: e.to_string() }
    }
}

/// Every rule's verdict and the final answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The final answer.
    pub result: Outcome,
    /// Every rule of [`Rule::ALL`], in order.
    pub rules: Vec<RuleVerdict>,
}

/// What a token says, decoded leniently for people to read (the inspector):
/// each part on its own, so a token broken in one part still shows the
/// others. Nothing here is verified; [`OfflineCheck::explain`] judges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// How many dot-separated parts the token has.
    pub parts: usize,
    /// The header, when its part decodes to a JSON object.
    pub header: Option<serde_json::Map<String, serde_json::Value>>,
    /// The claims, when their part decodes to a JSON object.
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// Why the header could not be shown.
    pub header_error: Option<&'static str>,
    /// Why the claims could not be shown.
    pub claims_error: Option<&'static str>,
    /// The header's `kid`, when it is a string.
    pub kid: Option<String>,
}

impl Inspection {
    /// Decodes what can be decoded of `token` (surrounding whitespace ignored).
    pub fn of(token: &str) -> Self {
        let token = token.trim();
        let parts: Vec<&str> = if token.is_empty() { Vec::new() } else { token.split('.').collect() };
        let decode = |i: usize| -> Result<serde_json::Map<String, serde_json::Value>, &'static str> {
            let part = parts.get(i).ok_or("missing")?;
            if part.len() > Validation::default().max_token_bytes * 2 {
                return Err("too long to show");
            }
            let bytes = crate::jws::b64url_decode(part).ok_or("not base64url")?;
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(serde_json::Value::Object(map)) => Ok(map),
                Ok(_) => Err("not a JSON object"),
                Err(_) => Err("not JSON"),
            }
        };
        let (header, header_error) = split(decode(0));
        let (claims, claims_error) = split(decode(1));
        let kid = header.as_ref().and_then(|h| h.get("kid")).and_then(|k| k.as_str()).map(str::to_owned);
        Self { parts: parts.len(), header, claims, header_error, claims_error, kid }
    }
}

fn split<T, E>(r: Result<T, E>) -> (Option<T>, Option<E>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    }
}
