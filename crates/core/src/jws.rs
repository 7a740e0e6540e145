//! The JWS layer (RFC 7515 compact serialization): splitting a compact token
//! into its three segments, strict base64url, and the HS256 HMAC (the
//! public-key algorithms are in [`crate::public_key`]).
//! Nothing here looks inside the header or payload JSON.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of an HS256 MAC in bytes.
pub const MAC_LEN: usize = 32;

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict base64url: URL-safe alphabet, no padding, and trailing
/// bits must be zero, so every token has exactly one encoding (no signature
/// malleability). SIMD-accelerated where the CPU allows (x86 AVX2/SSSE3,
/// wasm simd128); a test holds it to the strict scalar `base64` engine.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()
}

/// Decodes a signature segment, on the stack when it is an HS256 MAC's length.
pub(crate) fn decode_signature(s: &str) -> Option<Signature> {
    let mut mac = [0u8; MAC_LEN];
    if s.len() == 43 {
        let out = base64_simd::URL_SAFE_NO_PAD.decode(s.as_bytes(), base64_simd::Out::from_slice(&mut mac)).ok()?;
        if out.len() == MAC_LEN {
            return Some(Signature::Mac(mac));
        }
    }
    b64url_decode(s).map(Signature::Other)
}

/// A decoded signature: a MAC-sized one inline, anything else (which can
/// only fail verification) on the heap.
#[derive(Debug, Clone)]
pub(crate) enum Signature {
    /// Exactly 32 bytes.
    Mac([u8; MAC_LEN]),
    /// Any other length.
    Other(Vec<u8>),
}

impl Signature {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Mac(m) => m,
            Self::Other(v) => v,
        }
    }
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

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;

    use super::*;

    /// The strict reference: URL-safe, no padding, zero trailing bits.
    const STRICT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    );

    #[test]
    fn the_simd_decoder_is_exactly_as_strict_as_the_reference() {
        let alphabet = "AQgw_-9+/=. \n\u{e9}";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 12).unwrap();
            let s: String =
                (0..len).map(|_| alphabet.chars().nth(usize::try_from(next() % 14).unwrap()).unwrap()).collect();
            assert_eq!(b64url_decode(&s), STRICT.decode(&s).ok(), "{s:?}");
        }
        for s in ["", "AA", "AB", "AAA", "AAB", "AAAA", "AA==", "A", "-_-_", "+/+/"] {
            assert_eq!(b64url_decode(s), STRICT.decode(s).ok(), "{s:?}");
        }
        // Signatures: inline path and heap path agree with the reference.
        let mac = b64url_encode(&[0xa5; MAC_LEN]);
        assert_eq!(decode_signature(&mac).unwrap().as_slice(), &[0xa5; MAC_LEN]);
        let mut odd = mac.clone();
        odd.pop();
        odd.push('B');
        assert!(decode_signature(&odd).is_none(), "non-canonical trailing bits");
        assert_eq!(decode_signature("AAAA").unwrap().as_slice(), &[0, 0, 0]);
    }
}
