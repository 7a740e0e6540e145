//! The printable form shared by embed secrets and master keys:
//! `PREFIX` + lower-case base32 (RFC 4648 alphabet, no padding) of
//! `key bytes ‖ checksum`, where the checksum is the first 4 bytes of
//! SHA-256(`PREFIX` ‖ key bytes). The prefix lets a leak scanner find
//! candidates; the checksum lets it tell a real key from look-alikes offline
//! (a random string passes with probability 2⁻³², and trailing bits must be zero).

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Bytes of key material in every printable key.
pub const KEY_BYTES: usize = 32;
const CHECK_BYTES: usize = 4;
const RAW_BYTES: usize = KEY_BYTES + CHECK_BYTES;
/// Length of the base32 body: ceil(36 * 8 / 5).
pub const BODY_CHARS: usize = (RAW_BYTES * 8).div_ceil(5);

fn checksum(prefix: &str, key: &[u8; KEY_BYTES]) -> [u8; CHECK_BYTES] {
    let digest = Sha256::new().chain_update(prefix.as_bytes()).chain_update(key).finalize();
    let mut out = [0u8; CHECK_BYTES];
    out.copy_from_slice(&digest[..CHECK_BYTES]);
    out
}

/// Renders `key` under `prefix` (e.g. `egs_`).
pub fn encode(prefix: &str, key: &[u8; KEY_BYTES]) -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; RAW_BYTES]);
    raw[..KEY_BYTES].copy_from_slice(key);
    raw[KEY_BYTES..].copy_from_slice(&checksum(prefix, key));
    let mut out = Zeroizing::new(String::with_capacity(prefix.len() + BODY_CHARS));
    out.push_str(prefix);
    let (mut acc, mut bits) = (0u16, 0u32);
    for &b in raw.iter() {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((acc >> bits) & 31)]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[usize::from((acc << (5 - bits)) & 31)]));
    }
    out
}

/// Decodes a printable key, checking prefix, alphabet, length, zero trailing
/// bits and checksum. `None` on any mismatch.
pub fn decode(prefix: &str, s: &str) -> Option<Zeroizing<[u8; KEY_BYTES]>> {
    let body = s.strip_prefix(prefix)?.as_bytes();
    if body.len() != BODY_CHARS {
        return None;
    }
    let mut raw = Zeroizing::new([0u8; RAW_BYTES]);
    let (mut acc, mut bits, mut n) = (0u16, 0u32, 0usize);
    for &c in body {
        let v = match c {
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = ((acc << 5) | u16::from(v)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            raw[n] = u8::try_from((acc >> bits) & 0xff).ok()?;
            n += 1;
        }
    }
    // Canonical form only: leftover bits must be zero.
    if n != RAW_BYTES || acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    key.copy_from_slice(&raw[..KEY_BYTES]);
    let expected = checksum(prefix, &key);
    // Not secret-dependent in a way that matters (the checksum is public
    // given the key), but compare without early exit anyway.
    let diff = expected.iter().zip(&raw[KEY_BYTES..]).fold(0u8, |d, (a, b)| d | (a ^ b));
    (diff == 0).then_some(key)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn round_trip_and_length() {
        for seed in 0u8..=255 {
            let key = [seed; KEY_BYTES];
            let s = encode("egs_", &key);
            assert_eq!(s.len(), 4 + BODY_CHARS);
            assert_eq!(*decode("egs_", &s).unwrap(), key);
            assert!(decode("egm_", &s).is_none(), "prefix is part of the checksum");
        }
    }

    #[test]
    fn any_single_character_change_is_detected() {
        let s = encode("egs_", &[7u8; KEY_BYTES]);
        for i in 4..s.len() {
            for c in ALPHABET.iter().map(|&c| char::from(c)) {
                let mut t: Vec<char> = s.chars().collect();
                if t[i] == c {
                    continue;
                }
                t[i] = c;
                let t: String = t.into_iter().collect();
                assert!(decode("egs_", &t).is_none(), "{i} {c}");
            }
        }
    }
}
