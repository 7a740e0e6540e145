//! Standard HS256 vectors at the JWS layer: RFC 7515 A.1, RFC 7520 §4.4,
//! and Wycheproof's HMAC-SHA256 set (native and wasm32).
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use embedgate_core::jws::{b64url_decode, CompactParts, Hs256Key, MAC_LEN};
use serde::Deserialize;

#[derive(Deserialize)]
struct RfcFile {
    vectors: Vec<RfcVector>,
}

#[derive(Deserialize)]
struct RfcVector {
    source: String,
    k: String,
    compact: String,
    header: String,
}

#[test]
fn rfc_hs256_vectors_verify_over_the_raw_segments() {
    let file: RfcFile = serde_json::from_str(include_str!("vectors/rfc_jws.json")).unwrap();
    assert_eq!(file.vectors.len(), 2);
    for v in &file.vectors {
        let key = Hs256Key::new(&b64url_decode(&v.k).unwrap());
        let parts = CompactParts::split(&v.compact).unwrap();
        let header = b64url_decode(parts.header).unwrap();
        assert_eq!(String::from_utf8(header).unwrap(), v.header, "{}", v.source);
        let sig = b64url_decode(parts.signature).unwrap();
        assert!(key.verify(parts.signing_input.as_bytes(), &sig), "{}", v.source);
        assert_eq!(key.sign(parts.signing_input.as_bytes()).as_slice(), sig.as_slice(), "{}", v.source);
        // One flipped bit anywhere in the signing input or the tag fails.
        let mut input = parts.signing_input.as_bytes().to_vec();
        input[5] ^= 1;
        assert!(!key.verify(&input, &sig), "{}", v.source);
        let mut bad = sig.clone();
        bad[MAC_LEN - 1] ^= 0x80;
        assert!(!key.verify(parts.signing_input.as_bytes(), &bad), "{}", v.source);
        assert!(!key.verify(parts.signing_input.as_bytes(), &sig[..16]), "{}: truncated tags are refused", v.source);
    }
}

#[test]
fn wycheproof_hmac_sha256() {
    use wycheproof::mac::{TestName, TestSet};
    use wycheproof::TestResult;
    let set = TestSet::load(TestName::HmacSha256).unwrap();
    let (mut full, mut truncated) = (0, 0);
    for group in &set.test_groups {
        for t in &group.tests {
            let key = Hs256Key::new(&t.key);
            let computed = key.sign(&t.msg);
            let matches_prefix = computed[..t.tag.len().min(MAC_LEN)] == t.tag[..];
            if group.tag_size == MAC_LEN * 8 {
                full += 1;
                let ok = key.verify(&t.msg, &t.tag);
                match t.result {
                    TestResult::Valid => assert!(ok && matches_prefix, "tc {}", t.tc_id),
                    TestResult::Invalid => assert!(!ok, "tc {} {:?}", t.tc_id, t.flags),
                    TestResult::Acceptable => {}
                }
            } else {
                // We only accept full 256-bit tags: a truncated tag never verifies,
                // though the MAC we compute still agrees with the valid ones' prefix.
                truncated += 1;
                assert!(!key.verify(&t.msg, &t.tag), "tc {}: truncated tag accepted", t.tc_id);
                if t.result == TestResult::Valid {
                    assert!(matches_prefix, "tc {}", t.tc_id);
                }
            }
        }
    }
    assert!(full > 50 && truncated > 0, "ran {full} full-size and {truncated} truncated cases");
}
