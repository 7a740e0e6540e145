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
    ($(#[$doc:meta])* $raw:ident => $spans:ident { $($field:ident),* $(,)? }) => {
        #[derive(Deserialize)]
        struct $raw<'a> {
            $(
                #[serde(borrow, default, deserialize_with = "present")]
                $field: Option<&'a RawValue>,
            )*
        }

        impl $raw<'_> {
            /// serde's reading of `text`: the span of each member, in declaration order.
            fn spans(text: &str) -> Option<[Option<Range<usize>>; $spans::NAMES.len()]> {
                let raw: $raw<'_> = serde_json::from_str(text).ok()?;
                Some([$(span(text, raw.$field)),*])
            }
        }

        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub(crate) struct $spans {
            $(pub $field: Option<Range<usize>>,)*
        }

        impl $spans {
            /// The member names, in declaration order (the slots of the span arrays).
            pub(crate) const NAMES: [&'static str; { [$(stringify!($field)),*].len() }] = [$(stringify!($field)),*];
        }

        impl From<[Option<Range<usize>>; $spans::NAMES.len()]> for $spans {
            fn from([$($field),*]: [Option<Range<usize>>; $spans::NAMES.len()]) -> Self {
                Self { $($field),* }
            }
        }
    };
}

raw_object!(
    /// Where each header parameter verification looks at sits in the decoded header
    /// (read while parsing; the token keeps the smaller [`HeaderSpans`]).
    RawHeader => HeaderMembers { alg, typ, kid, jku, jwk, x5u, x5c, crit }
);

/// The slot of each header parameter verification looks at, in [`RawHeader`]'s order.
fn header_key(name: &[u8]) -> Option<usize> {
    Some(match name {
        b"alg" => 0,
        b"typ" => 1,
        b"kid" => 2,
        b"jku" => 3,
        b"jwk" => 4,
        b"x5u" => 5,
        b"x5c" => 6,
        b"crit" => 7,
        _ => return None,
    })
}

/// The slot of each claim verification looks at, in [`RawClaims`]'s order.
fn claim_key(name: &[u8]) -> Option<usize> {
    Some(match name {
        b"sub" => 0,
        b"jti" => 1,
        b"iat" => 2,
        b"exp" => 3,
        b"nbf" => 4,
        b"iss" => 5,
        b"ver" => 6,
        b"aud" => 7,
        b"account_type" => 8,
        b"teams" => 9,
        b"user_attributes" => 10,
        b"first_name" => 11,
        b"last_name" => 12,
        b"eval_connection_id" => 13,
        _ => return None,
    })
}
raw_object!(
    /// Where each claim verification looks at sits in the decoded payload.
    RawClaims => ClaimSpans {
        sub, jti, iat, exp, nbf, iss, ver, aud, account_type, teams, user_attributes, first_name, last_name,
        eval_connection_id,
    }
);

/// What verification needs of the header: three spans and the first
/// forbidden parameter present (kept small: the token is moved by value).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderSpans {
    pub alg: Option<Range<usize>>,
    pub typ: Option<Range<usize>>,
    pub kid: Option<Range<usize>>,
    /// The first of `jku`, `jwk`, `x5u`, `x5c`, `crit` present, if any.
    pub forbidden: Option<&'static str>,
}

impl From<HeaderMembers> for HeaderSpans {
    fn from(h: HeaderMembers) -> Self {
        let forbidden = [("jku", h.jku), ("jwk", h.jwk), ("x5u", h.x5u), ("x5c", h.x5c), ("crit", h.crit)]
            .into_iter()
            .find_map(|(name, v)| v.map(|_| name));
        Self { alg: h.alg, typ: h.typ, kid: h.kid, forbidden }
    }
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

/// The raw-value spans of `keys` in a JSON object's text: the fast scanner
/// when it can answer, serde (`slow`) otherwise.
fn spans<const N: usize>(
    text: &str,
    key_index: fn(&[u8]) -> Option<usize>,
    what: &'static str,
    slow: impl FnOnce(&str) -> Option<[Option<Range<usize>>; N]>,
) -> Result<[Option<Range<usize>>; N], VerifyError> {
    crate::scan::object(text, key_index).or_else(|| slow(text)).ok_or(VerifyError::MalformedToken(what))
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
    /// Runs the structural checks of architecture.md §4, in order: size (at most
    /// `max_bytes`), three strict base64url parts, header and payload that are
    /// JSON objects (no duplicate known members), a base64url signature.
    pub fn parse(token: &'t str, max_bytes: usize) -> Result<Self, VerifyError> {
        if token.len() > max_bytes {
            return Err(VerifyError::MalformedToken("the token is longer than the size limit"));
        }
        let parts = CompactParts::split(token).ok_or(VerifyError::MalformedToken("not three dot-separated parts"))?;

        let header_json = decode_object(parts.header, BAD_HEADER)?;
        let header =
            HeaderSpans::from(HeaderMembers::from(spans(&header_json, header_key, BAD_HEADER, RawHeader::spans)?));

        let payload_json = decode_object(parts.payload, BAD_PAYLOAD)?;
        let claims = ClaimSpans::from(spans(&payload_json, claim_key, BAD_PAYLOAD, RawClaims::spans)?);

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

    /// xorshift64: deterministic, the same on native and wasm32.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len())]
        }
    }

    fn gen_value(r: &mut Rng, depth: u8, out: &mut String) {
        const WS: [&str; 4] = ["", " ", "\n\t", "\r "];
        match r.below(if depth == 0 { 4 } else { 6 }) {
            0 => out.push_str(r.pick(&[
                r#""abc""#,
                r#""""#,
                r#""a b""#,
                r#""a\"b""#,
                r#""\u0041""#,
                r#""\q""#,
                "\"\u{1}\"",
                r#""é""#,
                r#""x"#,
            ])),
            1 => out.push_str(r.pick(&[
                "0",
                "-1",
                "17",
                "1.5",
                "-0.0e-0",
                "1E5",
                "1e+9",
                "01",
                "1.",
                "-",
                "1e",
                ".5",
                "1700000000",
            ])),
            2 => out.push_str(r.pick(&["true", "false", "null", "nul", "tru", "True"])),
            3 => out.push_str(r.pick(&[r#""viewer""#, r#""1.1""#, r#""embedgate""#])),
            4 => {
                out.push('[');
                for k in 0..r.below(4) {
                    if k > 0 {
                        out.push_str(r.pick(&[",", ",", ", ", ""]));
                    }
                    out.push_str(r.pick(&WS));
                    gen_value(r, depth - 1, out);
                }
                out.push_str(r.pick(&["]", "]", "]", ",]", ""]));
            }
            _ => {
                out.push('{');
                for k in 0..r.below(4) {
                    if k > 0 {
                        out.push_str(r.pick(&[",", ",", ""]));
                    }
                    out.push_str(r.pick(&[r#""k""#, r#""region""#, r#""k""#, "k"]));
                    out.push_str(r.pick(&[":", ":", " : ", ""]));
                    gen_value(r, depth - 1, out);
                }
                out.push_str(r.pick(&["}", "}", ",}", ""]));
            }
        }
    }

    fn gen_object(r: &mut Rng) -> String {
        let mut out = String::from(r.pick(&["{", "{", " {", "["]));
        for k in 0..r.below(8) {
            if k > 0 {
                out.push_str(r.pick(&[",", ",", ",", " ,\n", ""]));
            }
            let key = r.pick(&[
                "sub",
                "jti",
                "iat",
                "exp",
                "nbf",
                "aud",
                "teams",
                "user_attributes",
                "ver",
                "x",
                "custom",
                "s\\u0075b",
                "",
            ]);
            out.push('"');
            out.push_str(key);
            out.push_str(r.pick(&["\":", "\" : ", "\":", "\""]));
            gen_value(r, 3, &mut out);
        }
        out.push_str(r.pick(&["}", "}", "} ", "}x", ",}", "", "}}"]));
        // Sometimes one more random edit anywhere.
        if r.below(3) == 0 && !out.is_empty() {
            let at = r.below(out.len());
            if out.is_char_boundary(at) {
                out.insert_str(at, r.pick(&["\"", ",", ":", "}", "{", "[", "]", "\\", " ", "1", "\u{0}"]));
            }
        }
        out
    }

    /// The hand-written fast key lookups agree with the generated member lists.
    #[test]
    fn key_lookups_match_the_member_lists() {
        for (i, name) in HeaderMembers::NAMES.iter().enumerate() {
            assert_eq!(header_key(name.as_bytes()), Some(i), "{name}");
        }
        for (i, name) in ClaimSpans::NAMES.iter().enumerate() {
            assert_eq!(claim_key(name.as_bytes()), Some(i), "{name}");
        }
        for other in ["", "Sub", "cty", "email", "aud ", "kid\0"] {
            assert_eq!((header_key(other.as_bytes()), claim_key(other.as_bytes())), (None, None), "{other}");
        }
    }

    /// The scanner may decline anything, but whenever it answers, serde must
    /// accept the same text with exactly the same spans.
    #[test]
    fn the_fast_scanner_never_disagrees_with_serde() {
        let mut r = Rng(0x0123_4567_89ab_cdef);
        let (mut answered, mut valid) = (0, 0);
        for _ in 0..50_000 {
            let text = gen_object(&mut r);
            let slow = RawClaims::spans(&text);
            valid += usize::from(slow.is_some());
            if let Some(fast) = crate::scan::object(&text, claim_key) {
                answered += 1;
                assert_eq!(Some(fast), slow, "{text:?}");
            }
        }
        // The fast path must actually carry the common case.
        assert!(answered * 3 > valid, "scanner answered {answered} of {valid} valid objects");
        let typical = r#"{"sub":"ana@example.com","jti":"j","iat":1700000000,"exp":1700003600,"teams":["a","b"],"user_attributes":{"r":"emea"},"ver":"1.1","aud":["embedgate"]}"#;
        assert!(crate::scan::object::<14>(typical, claim_key).is_some());
    }

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
