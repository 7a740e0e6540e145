//! Domain names of architecture.md §2: client IDs, org slugs, account types, privileges.
//! Each type can only hold a valid value; serde goes through the same parsers.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a domain value failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A client ID must be 32 to 64 lower-case hex characters.
    #[error("a client ID is 32 to 64 lower-case hexadecimal characters")]
    ClientId,
    /// An org slug must match `[a-z0-9-]{1,63}`.
    #[error("an org slug is 1 to 63 characters of a-z, 0-9 and '-'")]
    OrgSlug,
    /// An account type is one of admin, creator, explorer, viewer.
    #[error("an account type is one of admin, creator, explorer, viewer")]
    AccountType,
    /// A privilege is `embedding` or `api`.
    #[error("a privilege is one of embedding, api")]
    Privilege,
}

macro_rules! string_newtype_serde {
    ($ty:ty, $err:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Through the rules' text visitor: a refusal never echoes the value.
                crate::rules::text(d, $err, str::parse)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A credential's public identifier: 128+ random bits as lower-case hex.
/// It is the `kid` of every token the credential signs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// Bytes of randomness in a newly generated client ID (128 bits).
    pub const RANDOM_BYTES: usize = 16;

    /// A fresh client ID from the OS (or JS) random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; Self::RANDOM_BYTES];
        getrandom::fill(&mut bytes)?;
        let mut s = String::with_capacity(Self::RANDOM_BYTES * 2);
        for b in bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Ok(Self(s))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a well-formed client ID (no allocation).
    pub fn is_valid(s: &str) -> bool {
        (32..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl FromStr for ClientId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::ClientId)
        }
    }
}
string_newtype_serde!(ClientId, ParseError::ClientId);

/// An organization (tenant) slug: `[a-z0-9-]{1,63}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgSlug(String);

impl OrgSlug {
    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a well-formed slug (no allocation).
    pub fn is_valid(s: &str) -> bool {
        (1..=63).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
}

impl FromStr for OrgSlug {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::OrgSlug)
        }
    }
}
string_newtype_serde!(OrgSlug, ParseError::OrgSlug);

/// A member's account type. Ordered: `Viewer < Explorer < Creator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountType {
    /// Views shared content.
    Viewer,
    /// Explores data within existing content.
    Explorer,
    /// Creates content.
    Creator,
    /// Administers the org; credentials owned by an admin may sign for anyone.
    Admin,
}

impl AccountType {
    /// All account types, lowest first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Explorer, Self::Creator, Self::Admin];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Explorer => "explorer",
            Self::Creator => "creator",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for AccountType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or(ParseError::AccountType)
    }
}
string_newtype_serde!(AccountType, ParseError::AccountType);

/// What a credential may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    /// Sign embed tokens for embed URLs.
    Embedding,
    /// Call the REST API.
    Api,
}

impl Privilege {
    /// Both privileges.
    pub const ALL: [Self; 2] = [Self::Embedding, Self::Api];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Embedding => "embedding",
            Self::Api => "api",
        }
    }
}

impl FromStr for Privilege {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or(ParseError::Privilege)
    }
}
string_newtype_serde!(Privilege, ParseError::Privilege);

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn account_types_are_ordered() {
        assert!(AccountType::Viewer < AccountType::Explorer);
        assert!(AccountType::Explorer < AccountType::Creator);
        assert!(AccountType::Creator < AccountType::Admin);
    }

    #[test]
    fn client_ids_are_random_lower_hex() {
        let a = ClientId::generate().unwrap();
        let b = ClientId::generate().unwrap();
        assert_ne!(a, b);
        assert!(ClientId::is_valid(a.as_str()), "{a}");
        assert_eq!(a.as_str().parse::<ClientId>().unwrap(), a);
        for bad in ["", "ABCDEF0123456789abcdef0123456789", "../../etc/passwd", &"a".repeat(65), &"a".repeat(31)] {
            assert_eq!(bad.parse::<ClientId>(), Err(ParseError::ClientId), "{bad}");
        }
    }

    #[test]
    fn org_slugs() {
        for ok in ["acme", "a", "acme-2", &"a".repeat(63)] {
            assert!(ok.parse::<OrgSlug>().is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "acme_2", "a b", &"a".repeat(64), "acmé"] {
            assert!(bad.parse::<OrgSlug>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_goes_through_the_parsers() {
        let t: AccountType = serde_json::from_str("\"creator\"").unwrap();
        assert_eq!(t, AccountType::Creator);
        assert!(serde_json::from_str::<AccountType>("\"root\"").is_err());
        assert_eq!(serde_json::to_string(&Privilege::Api).unwrap(), "\"api\"");
        assert!(serde_json::from_str::<OrgSlug>("\"UPPER\"").is_err());
    }
}
