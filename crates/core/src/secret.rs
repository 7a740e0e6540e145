//! Key material: embed secrets (what host apps sign with) and the printable
//! keys of the hierarchy (master, edge and sync keys; see [`crate::keys`]).
//! All are newtypes with private fields, redacted `Debug`, no `Serialize`,
//! and zeroized on drop.

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::printable::{self, KEY_BYTES};
use crate::types::ClientId;

/// Prefix of every embed secret's printable form.
pub const EMBED_SECRET_PREFIX: &str = "egs_";
/// Prefix of a master key's printable form.
pub const MASTER_KEY_PREFIX: &str = "egm_";
/// Prefix of a sync key's printable form.
pub const SYNC_KEY_PREFIX: &str = "egk_";
/// Prefix of an edge key's printable form.
pub const EDGE_KEY_PREFIX: &str = "ege_";
/// Length in characters of a well-formed embed secret.
pub const EMBED_SECRET_LEN: usize = EMBED_SECRET_PREFIX.len() + printable::BODY_CHARS;

/// Why key material could not be produced or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The platform's random source failed.
    #[error("the system random source failed: {0}")]
    Random(getrandom::Error),
    /// The text is not a well-formed key of this kind (prefix, alphabet, length or checksum).
    #[error("not a well-formed {0} (check for a truncated or mistyped value)")]
    Format(&'static str),
    /// The same key is configured twice.
    #[error("the {0} {1} is configured twice")]
    Duplicate(&'static str, crate::keys::KeyId),
    /// More keys of one kind than a rotation needs.
    #[error("at most two {0}s may be configured (the current one first, then the one being rotated)")]
    TooMany(&'static str),
    /// A wrapped or sealed value names a key that is not configured.
    #[error("this needs the {0} {1}, which is not configured")]
    UnknownKeyId(&'static str, crate::keys::KeyId),
    /// A wrapped value does not open under the key it names: it was altered,
    /// or moved to another record, org or purpose.
    #[error("a value wrapped under key {0} does not open (altered, or moved from another record)")]
    Unwrap(crate::keys::KeyId),
}

/// An embed secret: the HMAC key a host app signs embed tokens with.
///
/// The HMAC key is the UTF-8 bytes of the string **as shown** (architecture.md §2), so
/// any JWT library can use it. A secret read from outside is kept as given:
/// [`EmbedSecret::is_well_formed`] tells whether it has the `egs_` form.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EmbedSecret(String);

impl EmbedSecret {
    /// A new random secret (256 bits from the OS or JS random source).
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(key.as_mut()).map_err(KeyError::Random)?;
        Ok(Self::from_key_bytes(&key))
    }

    pub(crate) fn from_key_bytes(key: &[u8; KEY_BYTES]) -> Self {
        let printable = printable::encode(EMBED_SECRET_PREFIX, key);
        Self(String::clone(&printable))
    }

    /// Wraps a secret string exactly as given (for example read from an
    /// environment variable). Its form is not checked: the HMAC key is its bytes.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// Parses a secret that must be in the `egs_` form with a valid checksum.
    pub fn parse_well_formed(secret: &str) -> Result<Self, KeyError> {
        if looks_like_embed_secret(secret) {
            Ok(Self(secret.to_owned()))
        } else {
            Err(KeyError::Format("embed secret"))
        }
    }

    /// Whether this secret has the `egs_` printable form with a valid checksum.
    pub fn is_well_formed(&self) -> bool {
        looks_like_embed_secret(&self.0)
    }

    /// The secret string. Call only where it must leave the process: the
    /// one-time create/rotate answer, or a signing library.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The HMAC-SHA256 key bytes (the UTF-8 of the string as shown).
    pub fn hmac_key(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for EmbedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmbedSecret(<redacted>)")
    }
}

/// Whether `candidate` is an embed secret: the `egs_` prefix, the exact
/// length, the base32 alphabet, zero trailing bits and a matching checksum.
/// Offline and allocation-free apart from a 36-byte buffer; meant for leak
/// scanners (a random look-alike passes with probability about 2⁻³²).
pub fn looks_like_embed_secret(candidate: &str) -> bool {
    candidate.len() == EMBED_SECRET_LEN && printable::decode(EMBED_SECRET_PREFIX, candidate).is_some()
}

/// Finds every embed secret inside a larger text (a log, a dump, a commit):
/// the byte ranges of the candidates that pass [`looks_like_embed_secret`].
pub fn find_embed_secrets(haystack: &str) -> Vec<core::ops::Range<usize>> {
    let bytes = haystack.as_bytes();
    memchr::memmem::find_iter(bytes, EMBED_SECRET_PREFIX.as_bytes())
        .filter_map(|start| {
            let end = start + EMBED_SECRET_LEN;
            let candidate = haystack.get(start..end)?;
            // A secret glued to more base32 characters is not this secret.
            let glued = bytes.get(end).is_some_and(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(b));
            (!glued && looks_like_embed_secret(candidate)).then_some(start..end)
        })
        .collect()
}

/// The secret-derivation scheme a credential's secret generation uses.
/// Stored with each generation so the scheme can change without breaking
/// live credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Kdf {
    /// `HMAC-SHA256(master, "embedgate/v1" ‖ 0x00 ‖ client_id ‖ 0x00 ‖ generation as u32 big-endian)`,
    /// rendered in the `egs_` form. Retired: one master key for every org, no
    /// org bound in. Secrets issued this way are sealed under their org's key
    /// when a database is upgraded, and never derived again.
    V1,
    /// `HMAC-SHA256(org key, "embedgate/v2" ‖ 0 ‖ org ‖ 0 ‖ client_id ‖ 0 ‖ generation)`
    /// ([`crate::keys::OrgKey::derive_embed_secret`]).
    V2,
}

/// 256-bit key newtypes with an `egX_` printable form: private bytes,
/// redacted `Debug`, no `Serialize`, zeroized on drop.
macro_rules! printable_key {
    ($(#[$doc:meta])* $name:ident, $prefix:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_BYTES]);

        impl $name {
            /// What the key is called in messages.
            pub const WHAT: &'static str = $what;

            /// A new random key (256 bits from the OS or JS random source).
            pub fn generate() -> Result<Self, KeyError> {
                let mut key = [0u8; KEY_BYTES];
                getrandom::fill(&mut key).map_err(KeyError::Random)?;
                Ok(Self(key))
            }

            /// Reads the key from its printable form (checksum verified, so a
            /// truncated or mistyped key is refused rather than silently used).
            pub fn from_printable(s: &str) -> Result<Self, KeyError> {
                let key = printable::decode($prefix, s.trim()).ok_or(KeyError::Format($what))?;
                Ok(Self(*key))
            }

            /// The printable form, for writing into a configuration file.
            pub fn to_printable(&self) -> Zeroizing<String> {
                printable::encode($prefix, &self.0)
            }

            /// The raw key bytes.
            pub fn expose_bytes(&self) -> &[u8; KEY_BYTES] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

printable_key!(
    /// The master key: held only in the admin's configuration, never stored
    /// beside the database. It wraps each org's key ([`crate::keys`]); it
    /// derives nothing by itself (except, once, the retired [`Kdf::V1`]
    /// secrets a database is upgraded from). Rotated with `embedgate rekey`.
    MasterKey,
    MASTER_KEY_PREFIX,
    "master key"
);

printable_key!(
    /// The sync key the admin signs state pushes with and the edge checks them
    /// with (architecture.md §6). Messages name it by its id.
    SyncKey,
    SYNC_KEY_PREFIX,
    "sync key"
);

printable_key!(
    /// The edge key: wraps the live secrets the admin sends an edge, which
    /// holds it as a Worker secret (with at most one other during a
    /// rotation). It derives nothing, and seals the edge's sessions.
    EdgeKey,
    EDGE_KEY_PREFIX,
    "edge key"
);

impl MasterKey {
    /// The embed secret of `client_id`'s `generation` under the retired
    /// [`Kdf::V1`]: used only to seal such secrets under their org's key when
    /// a database is upgraded. `None` for any other derivation.
    pub fn derive_v1_embed_secret(&self, kdf: Kdf, client_id: &ClientId, generation: u32) -> Option<EmbedSecret> {
        match kdf {
            Kdf::V2 => None,
            Kdf::V1 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
                mac.update(b"embedgate/v1\0");
                mac.update(client_id.as_str().as_bytes());
                mac.update(b"\0");
                mac.update(&generation.to_be_bytes());
                let mut key = Zeroizing::new([0u8; KEY_BYTES]);
                key.copy_from_slice(&mac.finalize().into_bytes());
                Some(EmbedSecret::from_key_bytes(&key))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn generated_secrets_are_well_formed_and_distinct() {
        let a = EmbedSecret::generate().unwrap();
        let b = EmbedSecret::generate().unwrap();
        assert!(a.is_well_formed() && b.is_well_formed());
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), EMBED_SECRET_LEN);
        assert!(a.expose_secret().starts_with("egs_"));
    }

    #[test]
    fn debug_is_redacted() {
        let s = EmbedSecret::generate().unwrap();
        let m = MasterKey::generate().unwrap();
        let shown = format!("{s:?} {m:?}");
        assert!(!shown.contains(s.expose_secret()));
        assert!(!shown.contains(m.to_printable().as_str()));
        assert!(!shown.contains("egs_") && !shown.contains("egm_"));
    }

    #[test]
    fn derivation_is_deterministic_and_separated() {
        let m = MasterKey::generate().unwrap();
        let c1 = ClientId::generate().unwrap();
        let c2 = ClientId::generate().unwrap();
        let s = |c: &ClientId, g| m.derive_v1_embed_secret(Kdf::V1, c, g).unwrap().expose_secret().to_owned();
        assert_eq!(s(&c1, 1), s(&c1, 1));
        assert_ne!(s(&c1, 1), s(&c1, 2));
        assert_ne!(s(&c1, 1), s(&c2, 1));
        assert!(looks_like_embed_secret(&s(&c1, 1)));
        let other = MasterKey::generate().unwrap();
        assert_ne!(other.derive_v1_embed_secret(Kdf::V1, &c1, 1).unwrap().expose_secret(), s(&c1, 1));
        assert!(m.derive_v1_embed_secret(Kdf::V2, &c1, 1).is_none());
    }

    #[test]
    fn derivation_v1_is_pinned() {
        // A fixed vector: changing the derivation would silently break every
        // issued secret, so it must be a new Kdf version instead.
        let m = MasterKey(core::array::from_fn(|i| u8::try_from(i).unwrap()));
        let c: ClientId = "00112233445566778899aabbccddeeff".parse().unwrap();
        let s = m.derive_v1_embed_secret(Kdf::V1, &c, 1).unwrap();
        assert_eq!(s.expose_secret(), include_str!("../tests/vectors/kdf_v1.txt").trim());
    }

    #[test]
    fn master_key_printable_round_trip_and_typos() {
        let m = MasterKey::generate().unwrap();
        let p = m.to_printable();
        let back = MasterKey::from_printable(&p).unwrap();
        assert_eq!(back.0, m.0);
        let mut typo = p.to_string();
        typo.pop();
        assert!(MasterKey::from_printable(&typo).is_err());
        assert!(MasterKey::from_printable(EmbedSecret::generate().unwrap().expose_secret()).is_err());
    }

    #[test]
    fn scanner_finds_secrets_in_text() {
        let s = EmbedSecret::generate().unwrap();
        let text = format!("log line token={} and egs_notasecret and more", s.expose_secret());
        let found = find_embed_secrets(&text);
        assert_eq!(found.len(), 1);
        assert_eq!(&text[found[0].clone()], s.expose_secret());
        let glued = format!("{}abc", s.expose_secret());
        assert!(find_embed_secrets(&glued).is_empty());
    }
}
