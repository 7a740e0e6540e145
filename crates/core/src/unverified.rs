//! Parsing a compact token **without trusting it**: size, three strict
//! base64url parts, header and payload JSON objects. Nothing here checks the
//! MAC; [`crate::Validation::verify`] does that before any claim is believed.
//!
//! The payload JSON is parsed once: the raw text of each known claim is kept
//! as a byte span into the decoded payload, and typed only after the MAC check.

use core::ops::Range;
use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::error::VerifyError;
use crate::jws::{b64url_decode, decode_signature, CompactParts, Signature};

/// Deserializes a field as present even when its value is JSON `null`, so
/// `"crit": null` counts as a `crit` header and `"nbf": null` as a bad `nbf`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

macro_rules! raw_object {
    ($name:ident { $($field:ident),* $(,)? }) => {
        #[derive(Deserialize)]
        struct $name<'a> {
            $(
                #[serde(borrow, default, deserialize_with = "present")]
                $field: Option<&'a RawValue>,
            )*
        }
    };
}

raw_object!(RawHeader { alg, typ, kid, jku, jwk, x5u, x5c, crit });
raw_object!(RawClaims {
    sub,
    jti,
    iat,
    exp,
    nbf,
    iss,
    ver,
    aud,
    account_type,
    teams,
    user_attributes,
    first_name,
    last_name,
    eval_connection_id,
});

/// Where each known header parameter's raw JSON sits in the decoded header.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderSpans {
    pub alg: Option<Range<usize>>,
    pub typ: Option<Range<usize>>,
    pub kid: Option<Range<usize>>,
    /// The first forbidden header parameter present, if any.
    pub forbidden: Option<&'static str>,
}

/// Where each known claim's raw JSON sits in the decoded payload.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimSpans {
    pub sub: Option<Range<usize>>,
    pub jti: Option<Range<usize>>,
    pub iat: Option<Range<usize>>,
    pub exp: Option<Range<usize>>,
    pub nbf: Option<Range<usize>>,
    pub iss: Option<Range<usize>>,
    pub ver: Option<Range<usize>>,
    pub aud: Option<Range<usize>>,
    pub account_type: Option<Range<usize>>,
    pub teams: Option<Range<usize>>,
    pub user_attributes: Option<Range<usize>>,
    pub first_name: Option<Range<usize>>,
    pub last_name: Option<Range<usize>>,
    pub eval_connection_id: Option<Range<usize>>,
}

fn span(base: &str, raw: Option<&RawValue>) -> Option<Range<usize>> {
    raw.map(|raw| {
        // serde_json borrows `&RawValue` from the input, so the raw text is a
        // sub-slice of `base`; its offset is plain address arithmetic.
        let start = raw.get().as_ptr() as usize - base.as_ptr() as usize;
        debug_assert!(start + raw.get().len() <= base.len());
        start..start + raw.get().len()
    })
}

/// Decodes one base64url segment into a JSON object's text.
fn decode_object(segment: &str, what: &'static str) -> Result<String, VerifyError> {
    let bytes = b64url_decode(segment).ok_or(VerifyError::MalformedToken(what))?;
    let text = String::from_utf8(bytes).map_err(|_| VerifyError::MalformedToken(what))?;
    // serde derives also accept a JSON array for a struct: insist on an object.
    if !text.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{') {
        return Err(VerifyError::MalformedToken(what));
    }
    Ok(text)
}

const BAD_HEADER: &str = "the header is not a base64url-encoded JSON object";
const BAD_PAYLOAD: &str = "the payload is not a base64url-encoded JSON object";

/// A compact token that has passed the structural checks but is **not
/// verified**: its header and claims may say anything. Use it to inspect a
/// token (debugging, the browser verifier) or hand it to
/// [`crate::Validation::verify_parsed`].
#[derive(Debug, Clone)]
pub struct UnverifiedToken<'t> {
    signing_input: &'t str,
    header_json: String,
    payload_json: String,
    signature: Signature,
    pub(crate) header: HeaderSpans,
    pub(crate) claims: ClaimSpans,
}

impl<'t> UnverifiedToken<'t> {
    /// Runs the structural checks of design §4, in order: size (at most
    /// `max_bytes`), three strict base64url parts, header and payload that are
    /// JSON objects (no duplicate known members), a base64url signature.
    pub fn parse(token: &'t str, max_bytes: usize) -> Result<Self, VerifyError> {
        if token.len() > max_bytes {
            return Err(VerifyError::MalformedToken("the token is longer than the size limit"));
        }
        let parts = CompactParts::split(token).ok_or(VerifyError::MalformedToken("not three dot-separated parts"))?;

        let header_json = decode_object(parts.header, BAD_HEADER)?;
        let raw: RawHeader<'_> =
            serde_json::from_str(&header_json).map_err(|_| VerifyError::MalformedToken(BAD_HEADER))?;
        let forbidden = [("jku", raw.jku), ("jwk", raw.jwk), ("x5u", raw.x5u), ("x5c", raw.x5c), ("crit", raw.crit)]
            .into_iter()
            .find_map(|(name, v)| v.map(|_| name));
        let header = HeaderSpans {
            alg: span(&header_json, raw.alg),
            typ: span(&header_json, raw.typ),
            kid: span(&header_json, raw.kid),
            forbidden,
        };

        let payload_json = decode_object(parts.payload, BAD_PAYLOAD)?;
        let raw: RawClaims<'_> =
            serde_json::from_str(&payload_json).map_err(|_| VerifyError::MalformedToken(BAD_PAYLOAD))?;
        let p = payload_json.as_str();
        let claims = ClaimSpans {
            sub: span(p, raw.sub),
            jti: span(p, raw.jti),
            iat: span(p, raw.iat),
            exp: span(p, raw.exp),
            nbf: span(p, raw.nbf),
            iss: span(p, raw.iss),
            ver: span(p, raw.ver),
            aud: span(p, raw.aud),
            account_type: span(p, raw.account_type),
            teams: span(p, raw.teams),
            user_attributes: span(p, raw.user_attributes),
            first_name: span(p, raw.first_name),
            last_name: span(p, raw.last_name),
            eval_connection_id: span(p, raw.eval_connection_id),
        };

        let signature =
            decode_signature(parts.signature).ok_or(VerifyError::MalformedToken("the signature is not base64url"))?;
        Ok(Self { signing_input: parts.signing_input, header_json, payload_json, signature, header, claims })
    }

    /// Gives up the decoded payload and claim spans (verification keeps them).
    pub(crate) fn into_payload(self) -> (String, ClaimSpans) {
        (self.payload_json, self.claims)
    }

    /// The decoded header JSON, untrusted.
    pub fn header_json(&self) -> &str {
        &self.header_json
    }

    /// The decoded payload JSON, untrusted.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    /// The `kid` header if it is a JSON string, untrusted.
    pub fn kid(&self) -> Option<Cow<'_, str>> {
        self.header_str(self.header.kid.as_ref()?)
    }

    /// `header.payload`: the bytes the MAC covers.
    pub fn signing_input(&self) -> &'t str {
        self.signing_input
    }

    /// The decoded signature bytes.
    pub fn signature(&self) -> &[u8] {
        self.signature.as_slice()
    }

    pub(crate) fn header_raw(&self, span: &Range<usize>) -> &str {
        &self.header_json[span.clone()]
    }

    fn header_str(&self, span: &Range<usize>) -> Option<Cow<'_, str>> {
        parse_json_str(self.header_raw(span))
    }
}

/// JSON whitespace.
const WS: [char; 4] = [' ', '\t', '\n', '\r'];

/// The content of a JSON string that has no escapes, borrowed; `None` for
/// anything else. Only for text serde_json has already validated as one JSON
/// value: then a leading and trailing quote and no backslash mean exactly a
/// string without escapes (a bare `"` cannot occur inside it).
pub(crate) fn simple_str(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // Claims are short: a plain scan beats memchr's set-up cost here.
    inner.bytes().all(|b| b != b'\\').then_some(inner)
}

/// The items of a validated JSON array of escape-free strings, borrowed,
/// without a full parse; `None` when it is anything else (the caller falls
/// back to serde). A string holding a comma splits into pieces with
/// unbalanced quotes, which [`simple_str`] refuses, so that falls back too.
pub(crate) fn simple_str_array(raw: &str) -> Option<impl Iterator<Item = &str> + Clone> {
    let inner = raw.strip_prefix('[')?.strip_suffix(']')?.trim_matches(WS);
    let items = inner.split(',').filter(move |_| !inner.is_empty()).map(|item| simple_str(item.trim_matches(WS)));
    items.clone().all(|i| i.is_some()).then(|| items.map(Option::unwrap_or_default))
}

/// Whether a validated JSON value is an array of escape-free strings
/// (`pairs == false`) or an object of escape-free string keys and values
/// (`pairs == true`): one pass over the bytes, no allocation. `false` means
/// "ask serde", never "invalid".
pub(crate) fn is_simple_strings(raw: &str, pairs: bool) -> bool {
    fn ws(b: &[u8], i: &mut usize) {
        while matches!(b.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *i += 1;
        }
    }
    fn string(b: &[u8], i: &mut usize) -> bool {
        if b.get(*i) != Some(&b'"') {
            return false;
        }
        let rest = &b[*i + 1..];
        match rest.iter().position(|&c| c == b'"' || c == b'\\') {
            Some(end) if rest[end] == b'"' => {
                *i += end + 2;
                true
            }
            _ => false,
        }
    }
    let (open, close) = if pairs { (b'{', b'}') } else { (b'[', b']') };
    let b = raw.as_bytes();
    if b.first() != Some(&open) {
        return false;
    }
    let mut i = 1;
    ws(b, &mut i);
    if b.get(i) == Some(&close) {
        return i + 1 == b.len();
    }
    loop {
        if !string(b, &mut i) {
            return false;
        }
        if pairs {
            ws(b, &mut i);
            if b.get(i) != Some(&b':') {
                return false;
            }
            i += 1;
            ws(b, &mut i);
            if !string(b, &mut i) {
                return false;
            }
        }
        ws(b, &mut i);
        match b.get(i) {
            Some(b',') => {
                i += 1;
                ws(b, &mut i);
            }
            Some(&c) if c == close => return i + 1 == b.len(),
            _ => return false,
        }
    }
}

/// The entries of a validated JSON object of escape-free string keys and
/// values, borrowed, as for [`simple_str_array`]; `None` means "use serde".
pub(crate) fn simple_str_map(raw: &str) -> Option<impl Iterator<Item = (&str, &str)> + Clone> {
    let inner = raw.strip_prefix('{')?.strip_suffix('}')?.trim_matches(WS);
    let entries = inner.split(',').filter(move |_| !inner.is_empty()).map(|pair| {
        let (k, v) = pair.split_once(':')?;
        Some((simple_str(k.trim_matches(WS))?, simple_str(v.trim_matches(WS))?))
    });
    entries.clone().all(|e| e.is_some()).then(|| entries.map(Option::unwrap_or_default))
}

/// A JSON string value, borrowed when it has no escapes.
pub(crate) fn parse_json_str(raw: &str) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct S<'a>(#[serde(borrow)] Cow<'a, str>);
    if let Some(s) = simple_str(raw) {
        return Some(Cow::Borrowed(s));
    }
    serde_json::from_str::<S<'_>>(raw).ok().map(|s| s.0)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The fast paths must agree with serde on every input they accept.
    #[test]
    fn fast_paths_agree_with_serde() {
        let arrays = [
            "[]",
            r#"["a"]"#,
            r#"[ "a" , "b" ]"#,
            r#"["a,b"]"#,
            r#"["a\"b"]"#,
            r#"["a",1]"#,
            r#"[","]"#,
            r#"[["a"]]"#,
            r#"["a:b"]"#,
        ];
        for raw in arrays {
            if let Some(fast) = simple_str_array(raw) {
                let fast: Vec<String> = fast.map(str::to_owned).collect();
                assert_eq!(Some(fast), serde_json::from_str::<Vec<String>>(raw).ok(), "{raw}");
            }
        }
        assert!(simple_str_array(r#"["a,b"]"#).is_none());
        for raw in arrays {
            // The one-pass validator says "simple" exactly when serde reads a string array;
            // the split-based reader may decline more (a comma inside a string).
            assert_eq!(
                is_simple_strings(raw, false),
                serde_json::from_str::<Vec<String>>(raw).is_ok() && !raw.contains('\\'),
                "{raw}"
            );
        }
        let maps = [
            "{}",
            r#"{"k":"v"}"#,
            r#"{ "k" : "v" , "x":"http://y" }"#,
            r#"{"a:b":"v"}"#,
            r#"{"k":"v,w"}"#,
            r#"{"k":1}"#,
            r#"{"k":{"n":"v"}}"#,
        ];
        for raw in maps {
            if let Some(fast) = simple_str_map(raw) {
                let fast: std::collections::BTreeMap<String, String> =
                    fast.map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                assert_eq!(Some(fast), serde_json::from_str(raw).ok(), "{raw}");
            }
        }
        for raw in maps {
            let serde_ok = serde_json::from_str::<std::collections::BTreeMap<String, String>>(raw).is_ok();
            assert_eq!(is_simple_strings(raw, true), serde_ok && !raw.contains('\\'), "{raw}");
        }
        for raw in [r#""abc""#, r#""""#, r#""a\u0041""#, "12", "null"] {
            assert_eq!(parse_json_str(raw).map(Cow::into_owned), serde_json::from_str::<String>(raw).ok(), "{raw}");
        }
    }
}
