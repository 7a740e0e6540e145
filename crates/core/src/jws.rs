//! The JWS layer (RFC 7515 compact serialization, HS256 only): splitting a
//! compact token into its three segments, strict base64url, and the HMAC.
//! Nothing here looks inside the header or payload JSON.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Strict base64url: URL-safe alphabet, no padding, trailing bits must be
/// zero (so every token has exactly one encoding: no signature malleability).
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Length of an HS256 MAC in bytes.
pub const MAC_LEN: usize = 32;

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict unpadded base64url (see [`B64`]).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

/// A compact JWS split into its segments, not yet decoded or verified.
#[derive(Debug, Clone, Copy)]
pub struct CompactParts<'a> {
    /// The base64url header segment.
    pub header: &'a str,
    /// The base64url payload segment.
    pub payload: &'a str,
    /// `header.payload`: the bytes the MAC is computed over.
    pub signing_input: &'a str,
    /// The base64url signature segment (may be empty, as in `alg: none` tokens).
    pub signature: &'a str,
}

impl<'a> CompactParts<'a> {
    /// Splits `token` at its two dots. `None` unless there are exactly three parts.
    pub fn split(token: &'a str) -> Option<Self> {
        let bytes = token.as_bytes();
        let first = memchr::memchr(b'.', bytes)?;
        let second = first + 1 + memchr::memchr(b'.', &bytes[first + 1..])?;
        if memchr::memchr(b'.', &bytes[second + 1..]).is_some() {
            return None;
        }
        Some(Self {
            header: &token[..first],
            payload: &token[first + 1..second],
            signing_input: &token[..second],
            signature: &token[second + 1..],
        })
    }
}

/// An HS256 key with its HMAC state precomputed (the key is hashed into the
/// inner and outer pad states once, not on every verification).
#[derive(Clone)]
pub struct Hs256Key(Hmac<Sha256>);

impl core::fmt::Debug for Hs256Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Hs256Key(<redacted>)")
    }
}

impl Hs256Key {
    /// A key from raw bytes (for embed secrets: the UTF-8 of the string as shown).
    pub fn new(key: &[u8]) -> Self {
        Self(<Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length"))
    }

    /// The MAC of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the full MAC of `message`, compared in constant time.
    /// A tag of any other length (a truncated signature) is refused.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}
