//! The one error boundary of verification: every reason a token is refused,
//! as the stable machine codes of architecture.md §4.

use core::fmt;

/// Whether a refusal means "not proven" (HTTP 401) or "proven but not
/// allowed" (HTTP 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The token does not prove who it is: HTTP 401.
    Unauthenticated,
    /// The token proves who it is but is not allowed here: HTTP 403.
    Forbidden,
}

impl Class {
    /// The HTTP status this class maps to in every adapter.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
        }
    }
}

/// Why an embed token was refused. Exactly one variant per architecture.md §4 code;
/// the first failed check in the §4 order decides which.
///
/// Messages never contain the token, a secret or a claim value: only the
/// name of the claim or header concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not three strict base64url parts, bad JSON, not a JSON object, or over 8 KiB.
    MalformedToken(&'static str),
    /// `alg` absent or not exactly `HS256`, a forbidden header, or a `typ` other than `JWT`.
    UnsupportedAlgorithm(&'static str),
    /// `kid` absent, not a string, or naming no credential known here.
    UnknownClient,
    /// The MAC matches no live secret of the credential.
    BadSignature,
    /// The credential is revoked, or the token was issued before its cutoff.
    CredentialRevoked,
    /// A required claim is absent (the claim's name).
    MissingClaim(&'static str),
    /// A claim has the wrong type or value (the claim's name, and why).
    InvalidClaim(&'static str, &'static str),
    /// `ver` is 1.1 and `aud` is absent or does not name the configured audience.
    AudienceMismatch,
    /// Past `exp` plus the leeway.
    Expired,
    /// Before `nbf` or `iat`, minus the leeway.
    NotYetValid,
    /// `exp - iat` exceeds the cap (30 days or the credential's own limit).
    LifetimeExceedsLimit,
    /// The token's `jti` was already used.
    Replayed,
    /// A non-admin owner signing for someone else or above its account type.
    ImpersonationNotAllowed,
    /// The embed URL's org is not the credential's org.
    OrgMismatch,
    /// The credential lacks the `embedding` privilege.
    PrivilegeMissing,
    /// The framing page's origin is not in the credential's allowed origins.
    OriginNotAllowed,
}

impl VerifyError {
    /// Every code, in the order of architecture.md §4's table (for docs and tests).
    pub const ALL_CODES: [&'static str; 16] = [
        "malformed_token",
        "unsupported_algorithm",
        "unknown_client",
        "bad_signature",
        "credential_revoked",
        "missing_claim",
        "invalid_claim",
        "audience_mismatch",
        "expired",
        "not_yet_valid",
        "lifetime_exceeds_limit",
        "replayed",
        "impersonation_not_allowed",
        "org_mismatch",
        "privilege_missing",
        "origin_not_allowed",
    ];

    /// One error of each code, in the order of [`VerifyError::ALL_CODES`]
    /// (for tables of codes and their statuses).
    pub const ONE_OF_EACH: [VerifyError; 16] = [
        Self::MalformedToken(""),
        Self::UnsupportedAlgorithm(""),
        Self::UnknownClient,
        Self::BadSignature,
        Self::CredentialRevoked,
        Self::MissingClaim(""),
        Self::InvalidClaim("", ""),
        Self::AudienceMismatch,
        Self::Expired,
        Self::NotYetValid,
        Self::LifetimeExceedsLimit,
        Self::Replayed,
        Self::ImpersonationNotAllowed,
        Self::OrgMismatch,
        Self::PrivilegeMissing,
        Self::OriginNotAllowed,
    ];

    /// The stable machine-readable code (architecture.md §4).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MalformedToken(_) => "malformed_token",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::UnknownClient => "unknown_client",
            Self::BadSignature => "bad_signature",
            Self::CredentialRevoked => "credential_revoked",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(..) => "invalid_claim",
            Self::AudienceMismatch => "audience_mismatch",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::LifetimeExceedsLimit => "lifetime_exceeds_limit",
            Self::Replayed => "replayed",
            Self::ImpersonationNotAllowed => "impersonation_not_allowed",
            Self::OrgMismatch => "org_mismatch",
            Self::PrivilegeMissing => "privilege_missing",
            Self::OriginNotAllowed => "origin_not_allowed",
        }
    }

    /// 401 or 403.
    pub const fn class(&self) -> Class {
        match self {
            Self::ImpersonationNotAllowed | Self::OrgMismatch | Self::PrivilegeMissing | Self::OriginNotAllowed => {
                Class::Forbidden
            }
            _ => Class::Unauthenticated,
        }
    }

    /// The HTTP status of this refusal (401 or 403).
    pub const fn http_status(&self) -> u16 {
        self.class().http_status()
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedToken(why) => write!(f, "the token is malformed: {why}"),
            Self::UnsupportedAlgorithm(why) => write!(f, "the token's header is not accepted: {why}"),
            Self::UnknownClient => f.write_str("the token's kid names no known client credential"),
            Self::BadSignature => f.write_str("the token's signature does not match the credential's secret"),
            Self::CredentialRevoked => {
                f.write_str("the client credential has been revoked or the token predates its cutoff")
            }
            Self::MissingClaim(claim) => write!(f, "the required claim `{claim}` is missing"),
            Self::InvalidClaim(claim, why) => write!(f, "the claim `{claim}` is invalid: {why}"),
            Self::AudienceMismatch => f.write_str("the token's audience does not include this service"),
            Self::Expired => f.write_str("the token has expired"),
            Self::NotYetValid => f.write_str("the token is not valid yet"),
            Self::LifetimeExceedsLimit => f.write_str("the token's lifetime (exp - iat) exceeds the allowed maximum"),
            Self::Replayed => f.write_str("the token's jti has already been used"),
            Self::ImpersonationNotAllowed => f.write_str(
                "the credential's owner is not an admin and may only sign for itself, at or below its own account type",
            ),
            Self::OrgMismatch => f.write_str("the credential does not belong to this organization"),
            Self::PrivilegeMissing => f.write_str("the credential does not hold the embedding privilege"),
            Self::OriginNotAllowed => f.write_str("the embedding page's origin is not allowed for this credential"),
        }
    }
}

impl std::error::Error for VerifyError {}
