//! Every rule a credential or member field obeys, stated once.
//!
//! Each rule is a type that can only hold a valid value (parse, don't
//! validate): [`CredentialName`], [`Description`], [`Email`], [`Origin`],
//! [`AllowedOrigins`], [`Privileges`], [`TokenLifetime`], [`Cutoff`] (and
//! [`crate::AccountType`]). The admin's request bodies, the rows it loads,
//! the records the edge receives, `embedgate verify`'s options and the
//! browser module's checks all go through these parsers, so they refuse the
//! same values with the same sentence. Serde goes through them too, and its
//! errors never echo the offending value.
//!
//! A credential's status ([`CredentialStatus`]) is decided here as well, once,
//! for the API, the console and the state pushed to the edges.
//!
//! The request bodies of the admin API ([`NewCredential`], [`CredentialPatch`],
//! [`NewMember`], [`MemberPatch`]) are parsed by [`parse_body`], which names
//! the offending field in a [`FieldError`].

mod body;
mod fields;
mod key;
#[cfg(feature = "openapi")]
mod openapi;
mod status;

pub use body::{
    check_field, parse_body, Body, CredentialPatch, CredentialRotation, MemberPatch, NewCredential, NewMember,
    OrgKeyRotation, OrgSettingsPatch, Patch,
};
pub(crate) use fields::text;
pub use fields::{
    AllowedOrigins, CredentialName, Cutoff, Description, Email, Origin, Privileges, TokenLifetime, ANY_ORIGIN,
    SELF_ORIGIN,
};
pub use key::public_key_of;
pub use status::{CredentialStatus, MemberStatus};

use crate::validation::MAX_LIFETIME_CAP_S;

/// Longest credential name, in characters (after trimming).
pub const MAX_NAME_CHARS: usize = 100;
/// Longest credential description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Shortest and longest email address, in characters.
pub const EMAIL_CHARS: core::ops::RangeInclusive<usize> = 3..=254;
/// Most origins a credential may allow.
pub const MAX_ALLOWED_ORIGINS: usize = 50;
/// How far after the server's clock a `not_before_cutoff` may be (1 day):
/// room for an admin's clock running ahead, while a typo cannot silently
/// disable a credential for longer.
pub const MAX_CUTOFF_AHEAD_S: i64 = 86_400;

/// Why a value breaks its rule. The message is the sentence that follows the
/// field's name ("name must be …"); it never contains the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A credential name is 1 to 100 characters after trimming, without control or bidi characters.
    #[error(
        "must be 1 to {} characters (trimmed), without control or bidirectional-override characters",
        MAX_NAME_CHARS
    )]
    Name,
    /// A description is at most 1000 characters, without control characters but line breaks and tabs, nor bidi ones.
    #[error(
        "must be at most {} characters, without control characters other than line breaks and tabs, and without \
         bidirectional-override characters",
        MAX_DESCRIPTION_CHARS
    )]
    Description,
    /// An email address: 3 to 254 characters, one `@` with text on both sides, no whitespace.
    #[error("must be an email address")]
    Email,
    /// An origin is `http(s)://host[:port]`, without path, query, fragment or userinfo.
    #[error("must be an http(s) origin (scheme://host[:port]) without a path")]
    Origin,
    /// Allowed origins are an array of at most 50 entries: origins, `'self'`, or `"*"` alone.
    #[error(
        "must be an array of at most {} entries: http(s) origins without a path, 'self', or \"*\" alone",
        MAX_ALLOWED_ORIGINS
    )]
    AllowedOrigins,
    /// Privileges are a non-empty array of `embedding` and `api`.
    #[error("must be a non-empty array of \"embedding\" and \"api\"")]
    Privileges,
    /// A token lifetime limit is 1 second to 30 days.
    #[error("must be an integer from 1 to {}", MAX_LIFETIME_CAP_S)]
    TokenLifetime,
    /// A cutoff is Unix seconds, from 0 to one day after the server's clock.
    #[error("must be an integer of Unix seconds from 0 to at most one day from now")]
    Cutoff,
    /// An account type is one of the four.
    #[error("must be one of admin, creator, explorer, viewer")]
    AccountType,
    /// A region is a Durable Objects location hint.
    #[error("must be one of wnam, enam, sam, weur, eeur, apac, oc, afr, me")]
    Region,
    /// A confirmation repeats the org's slug exactly.
    #[error("must repeat the org's slug exactly")]
    Confirm,
    /// A public key (a JWK) that is not accepted: [`crate::JwkError`]'s message.
    #[error("is refused: {0}")]
    PublicKey(crate::JwkError),
    /// A credential that signs with a public key rotates only to a new public key.
    #[error("is required for a credential that signs with a public key")]
    PublicKeyRequired,
    /// A credential that signs with a generated secret rotates to a new secret, never to a key pair.
    #[error("cannot be given: this credential signs with a generated secret")]
    SecretCredential,
    /// A required field is absent.
    #[error("is required")]
    Required,
    /// A body is a JSON object.
    #[error("must be a JSON object")]
    NotAnObject,
    /// A body names a field it does not have (the allowed names follow).
    #[error("may only have these fields: {}", .0.join(", "))]
    UnknownField(&'static [&'static str]),
    /// A change names no field at all (the allowed names follow).
    #[error("must name at least one of: {}", .0.join(", "))]
    NothingToChange(&'static [&'static str]),
}

/// A value that broke its rule, and the field it was given as: the admin
/// answers it as `422 invalid_input` with `field`, the browser shows it by
/// the field, the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct FieldError {
    /// The field (`body` for the body as a whole).
    pub field: &'static str,
    /// The rule it broke.
    pub rule: RuleError,
}

impl FieldError {
    /// `field` broke `rule`.
    pub const fn new(field: &'static str, rule: RuleError) -> Self {
        Self { field, rule }
    }
}

/// The limits above as one JSON-friendly value: what the browser module's
/// `rules()` hands the console, so its hints use the same numbers.
pub fn limits() -> serde_json::Value {
    serde_json::json!({
        "name_max_chars": MAX_NAME_CHARS,
        "description_max_chars": MAX_DESCRIPTION_CHARS,
        "email_chars": [EMAIL_CHARS.start(), EMAIL_CHARS.end()],
        "allowed_origins_max": MAX_ALLOWED_ORIGINS,
        "max_token_lifetime_s": MAX_LIFETIME_CAP_S,
        "cutoff_max_ahead_s": MAX_CUTOFF_AHEAD_S,
        "account_types": crate::AccountType::ALL.map(crate::AccountType::as_str),
        "privileges": crate::Privilege::ALL.map(crate::Privilege::as_str),
        "credential_statuses": CredentialStatus::ALL.map(CredentialStatus::as_str),
        "member_statuses": MemberStatus::ALL.map(MemberStatus::as_str),
    })
}
