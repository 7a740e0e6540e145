//! The field types: each holds only a valid value, parses from text (or a
//! number, or a list) with one [`RuleError`], and goes through the same
//! parser under serde.

use core::fmt;
use std::collections::BTreeSet;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{RuleError, EMAIL_CHARS, MAX_ALLOWED_ORIGINS, MAX_CUTOFF_AHEAD_S, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::types::Privilege;
use crate::validation::MAX_LIFETIME_CAP_S;

/// A visitor that takes one kind of JSON value and refuses every other kind
/// with the rule's own sentence: serde's "invalid type: integer `5`" would
/// echo the input, which no error here may do.
struct Only<R, F> {
    rule: R,
    accept: F,
}

macro_rules! refuse_others {
    ($($method:ident($($ty:ty)?)),*) => {
        $(fn $method<E: de::Error>(self $(, _: $ty)?) -> Result<Self::Value, E> {
            Err(E::custom(self.rule))
        })*
    };
}

/// Text in, `T` out.
impl<'de, T, R: fmt::Display + Copy, F: FnOnce(&str) -> Result<T, R>> Visitor<'de> for Only<R, F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value that {}", self.rule)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.accept)(v).map_err(E::custom)
    }

    refuse_others!(visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_unit(), visit_none());

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(de::Error::custom(self.rule))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(de::Error::custom(self.rule))
    }
}

/// Deserializes text with `parse`, refusing any other JSON type with `rule`
/// (whose message is all a refusal says).
pub(crate) fn text<'de, D: Deserializer<'de>, T, R: fmt::Display + Copy>(
    d: D,
    rule: R,
    parse: impl FnOnce(&str) -> Result<T, R>,
) -> Result<T, D::Error> {
    d.deserialize_any(Only { rule, accept: parse })
}

/// String rule types: a private `String`, `parse`, `as_str`, `Display`, and
/// serde through `parse`.
macro_rules! text_rule {
    ($(#[$doc:meta])* $name:ident, $rule:expr, $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses `raw` under this rule (the stored form may differ: see the type's doc).
            pub fn parse(raw: &str) -> Result<Self, RuleError> {
                let parse: fn(&str) -> Option<String> = $parse;
                parse(raw).map(Self).ok_or($rule)
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl core::str::FromStr for $name {
            type Err = RuleError;
            fn from_str(s: &str) -> Result<Self, RuleError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                text(d, $rule, Self::parse)
            }
        }
    };
}

/// Bidirectional-text controls: they can make one name read as another in
/// the console (a revoke confirmation naming the wrong credential).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

text_rule!(
    /// A credential's name: 1 to 100 characters once trimmed (stored
    /// trimmed), no control or bidirectional-override characters. Unique
    /// within an org (the database enforces that).
    CredentialName,
    RuleError::Name,
    |raw| {
        let name = raw.trim();
        ((1..=MAX_NAME_CHARS).contains(&name.chars().count())
            && !name.chars().any(|c| c.is_control() || is_bidi_control(c)))
        .then(|| name.to_owned())
    }
);

text_rule!(
    /// A credential's description: at most 1000 characters, no control
    /// characters but line breaks and tabs, no bidirectional overrides.
    Description,
    RuleError::Description,
    |raw| {
        (raw.chars().count() <= MAX_DESCRIPTION_CHARS
            && !raw.chars().any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c)))
        .then(|| raw.to_owned())
    }
);

text_rule!(
    /// A member's email address, trimmed and lower-cased: 3 to 254
    /// characters, exactly one `@` with text on both sides, no whitespace or
    /// control characters.
    Email,
    RuleError::Email,
    |raw| {
        let email = crate::validation::canonical_email(raw.trim()).into_owned();
        let mut parts = email.split('@');
        let one_at = matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty());
        (one_at
            && EMAIL_CHARS.contains(&email.chars().count())
            && !email.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then_some(email)
    }
);

text_rule!(
    /// A web origin, `http(s)://host[:port]`, lower-cased, one trailing `/`
    /// dropped; no path, query, fragment or userinfo; the port 1 to 65535.
    /// It is safe to put in a `Content-Security-Policy` header as is.
    Origin,
    RuleError::Origin,
    normalize_origin
);

fn normalize_origin(raw: &str) -> Option<String> {
    let origin = raw.trim().to_ascii_lowercase();
    let origin = origin.strip_suffix('/').unwrap_or(&origin).to_owned();
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
    let (host, port) = if rest.starts_with('[') {
        let close = rest.find(']')?;
        let (host, after) = rest.split_at(close + 1);
        (host, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && (host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || (host.len() > 2
                && host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1].bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    (host_ok && port_ok).then_some(origin)
}

/// The pages allowed to frame a credential's embeds: at most 50 entries,
/// sorted, without duplicates. Framing is denied by default:
///
/// - empty: no page may frame (`frame-ancestors 'none'`);
/// - `["*"]`, alone and explicit: any page may (`frame-ancestors *`);
/// - `'self'`, only when listed: the edge's own origin, which every tenant
///   shares, so it is never implied;
/// - otherwise exactly the listed origins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AllowedOrigins {
    any: bool,
    self_origin: bool,
    origins: Vec<Origin>,
}

/// The entry that lets any page frame (it must stand alone).
pub const ANY_ORIGIN: &str = "*";
/// The entry that lets the edge's own origin frame.
pub const SELF_ORIGIN: &str = "'self'";

impl AllowedOrigins {
    /// Parses a list of entries: origins (each normalized; duplicates
    /// merged), `'self'`, or `*` alone.
    pub fn parse<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Result<Self, RuleError> {
        let mut out = Self::default();
        let mut set = BTreeSet::new();
        for item in items {
            match item.as_ref().trim() {
                ANY_ORIGIN => out.any = true,
                SELF_ORIGIN => out.self_origin = true,
                other => {
                    set.insert(Origin::parse(other).map_err(|_| RuleError::AllowedOrigins)?);
                }
            }
        }
        let entries = set.len() + usize::from(out.self_origin) + usize::from(out.any);
        // `*` means every page: listing anything beside it would suggest a limit that is not there.
        if entries > MAX_ALLOWED_ORIGINS || (out.any && entries > 1) {
            return Err(RuleError::AllowedOrigins);
        }
        out.origins = set.into_iter().collect();
        Ok(out)
    }

    /// The explicit `["*"]`: any page may frame.
    pub fn any() -> Self {
        Self { any: true, ..Self::default() }
    }

    /// Whether nothing is listed (then no page may frame).
    pub fn is_empty(&self) -> bool {
        !self.any && !self.self_origin && self.origins.is_empty()
    }

    /// Whether the list is the explicit `["*"]`.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// The listed origins, sorted (without `*` and `'self'`).
    pub fn iter(&self) -> impl Iterator<Item = &Origin> {
        self.origins.iter()
    }

    /// Whether a load whose page is at `origin` (a request's `Origin`, or
    /// its `Referer`'s) passes the edge's origin check: with `*`, any; with
    /// listed origins, one equal to an entry once normalized. With nothing
    /// listed no page may frame, which the `frame-ancestors 'none'` answer
    /// enforces in the browser; a top-level load (a link, a new tab) is not
    /// framing and is not refused for the page it came from.
    pub fn allows(&self, origin: &str) -> bool {
        self.any
            || (self.origins.is_empty() && !self.self_origin)
            || Origin::parse(origin).is_ok_and(|o| self.origins.binary_search(&o).is_ok())
    }

    /// The `Content-Security-Policy` directive that lets exactly these
    /// pages frame: `frame-ancestors 'none'` when nothing is listed,
    /// `frame-ancestors *` for `["*"]`, else `'self'` (when listed) and the
    /// origins.
    pub fn frame_ancestors(&self) -> String {
        if self.any {
            return "frame-ancestors *".to_owned();
        }
        if self.is_empty() {
            return "frame-ancestors 'none'".to_owned();
        }
        let mut directive = String::from("frame-ancestors");
        if self.self_origin {
            directive.push(' ');
            directive.push_str(SELF_ORIGIN);
        }
        for origin in &self.origins {
            directive.push(' ');
            directive.push_str(origin.as_str());
        }
        directive
    }

    /// The entries as stored and sent: `*`, `'self'`, then the origins.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        let special = [(self.any, ANY_ORIGIN), (self.self_origin, SELF_ORIGIN)];
        special.into_iter().filter_map(|(on, s)| on.then_some(s)).chain(self.origins.iter().map(Origin::as_str))
    }
}

impl Serialize for AllowedOrigins {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.entries())
    }
}

/// A list of strings refused as a whole with one rule.
struct StrList {
    rule: RuleError,
}

impl<'de> Visitor<'de> for StrList {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value that {}", self.rule)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut items = Vec::new();
        // Each item must be a string: anything else is refused with the list's rule.
        while let Some(item) = seq.next_element_seed(OneStr(self.rule))? {
            // A hostile body cannot make this grow past what a sane list needs.
            if items.len() > 10 * MAX_ALLOWED_ORIGINS {
                return Err(de::Error::custom(self.rule));
            }
            items.push(item);
        }
        Ok(items)
    }

    refuse_others!(visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_unit(), visit_none());

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<String>, E> {
        Err(E::custom(self.rule))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Vec<String>, A::Error> {
        Err(de::Error::custom(self.rule))
    }
}

#[derive(Clone, Copy)]
struct OneStr(RuleError);

impl<'de> de::DeserializeSeed<'de> for OneStr {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        text(d, self.0, |s| Ok(s.to_owned()))
    }
}

fn str_list<'de, D: Deserializer<'de>>(d: D, rule: RuleError) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StrList { rule })
}

impl<'de> Deserialize<'de> for AllowedOrigins {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(str_list(d, RuleError::AllowedOrigins)?).map_err(de::Error::custom)
    }
}

/// What a credential may be used for: a non-empty set of privileges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Privileges(BTreeSet<Privilege>);

impl Privileges {
    /// Parses a non-empty list of privilege names (duplicates merged).
    pub fn parse<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Result<Self, RuleError> {
        let set = items
            .into_iter()
            .map(|p| p.as_ref().parse::<Privilege>().map_err(|_| RuleError::Privileges))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(RuleError::Privileges);
        }
        Ok(Self(set))
    }

    /// Whether `privilege` is held.
    pub fn contains(&self, privilege: Privilege) -> bool {
        self.0.contains(&privilege)
    }

    /// The privileges, in order.
    pub fn iter(&self) -> impl Iterator<Item = Privilege> + '_ {
        self.0.iter().copied()
    }

    /// The set.
    pub fn as_set(&self) -> &BTreeSet<Privilege> {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Privileges {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(str_list(d, RuleError::Privileges)?).map_err(de::Error::custom)
    }
}

/// A JSON integer refused as a whole with one rule (no fraction, no text).
struct Int {
    rule: RuleError,
}

impl<'de> Visitor<'de> for Int {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value that {}", self.rule)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(self.rule))
    }

    refuse_others!(visit_bool(bool), visit_f64(f64), visit_str(&str), visit_unit(), visit_none());

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<i64, A::Error> {
        Err(de::Error::custom(self.rule))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<i64, A::Error> {
        Err(de::Error::custom(self.rule))
    }
}

/// The longest token lifetime (`exp − iat`) a credential accepts: 1 second
/// to 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TokenLifetime(u64);

impl TokenLifetime {
    /// `seconds`, if from 1 to 30 days.
    pub fn new(seconds: i64) -> Result<Self, RuleError> {
        u64::try_from(seconds)
            .ok()
            .filter(|s| (1..=MAX_LIFETIME_CAP_S).contains(s))
            .map(Self)
            .ok_or(RuleError::TokenLifetime)
    }

    /// The limit in seconds.
    pub const fn seconds(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for TokenLifetime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(d.deserialize_any(Int { rule: RuleError::TokenLifetime })?).map_err(de::Error::custom)
    }
}

/// A not-before cutoff: tokens issued (`iat`) before it are refused. Unix
/// seconds, never negative; a new one is at most one day after the server's
/// clock ([`Cutoff::check_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Cutoff(i64);

impl Cutoff {
    /// `seconds`, if not negative.
    pub fn new(seconds: i64) -> Result<Self, RuleError> {
        (seconds >= 0).then_some(Self(seconds)).ok_or(RuleError::Cutoff)
    }

    /// A cutoff being set at `now`: at most [`MAX_CUTOFF_AHEAD_S`] ahead.
    pub fn check_at(self, now: i64) -> Result<Self, RuleError> {
        (self.0 <= now.saturating_add(MAX_CUTOFF_AHEAD_S)).then_some(self).ok_or(RuleError::Cutoff)
    }

    /// Unix seconds.
    pub const fn unix(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Cutoff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(d.deserialize_any(Int { rule: RuleError::Cutoff })?).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn names_are_trimmed_and_refuse_controls_and_bidi() {
        assert_eq!(CredentialName::parse("  Portal ").unwrap().as_str(), "Portal");
        assert!(CredentialName::parse(&"x".repeat(100)).is_ok());
        for bad in ["", "   ", &"x".repeat(101), "a\u{7}b", "portal\u{202E}lanimret", "a\u{2066}b"] {
            assert_eq!(CredentialName::parse(bad), Err(RuleError::Name), "{bad:?}");
        }
        assert!(Description::parse("line\nline\ttab").is_ok());
        assert_eq!(Description::parse("see \u{202D}x"), Err(RuleError::Description));
        assert_eq!(Description::parse(&"d".repeat(1001)), Err(RuleError::Description));
    }

    #[test]
    fn emails_are_lowercased_with_one_at() {
        assert_eq!(Email::parse(" ADMIN@acme.test ").unwrap().as_str(), "admin@acme.test");
        for bad in ["not-an-email", "a@b@c", "@b", "a@", "a b@c", "a@", &format!("{}@b.c", "a".repeat(252))] {
            assert_eq!(Email::parse(bad), Err(RuleError::Email), "{bad:?}");
        }
    }

    #[test]
    fn origins_are_normalized_and_strict() {
        let list = AllowedOrigins::parse([
            "https://A.example:8443/",
            "http://[::1]:3000",
            "http://[::1]",
            "https://a.example:8443",
        ])
        .unwrap();
        let shown: Vec<&str> = list.iter().map(Origin::as_str).collect();
        assert_eq!(shown, ["http://[::1]", "http://[::1]:3000", "https://a.example:8443"]);
        for bad in [
            "https://a.example/path",
            "ftp://a.example",
            "https://",
            "https://a.example:0",
            "https://a.example:99999",
            "https://user@a.example",
            "https://a.example?x=1",
            "https://a.example#f",
            "https://[]",
            "https://evil.example; script-src *",
            "https://x.example\r\nSet-Cookie: a=b",
            "javascript:alert(1)",
        ] {
            assert_eq!(Origin::parse(bad), Err(RuleError::Origin), "{bad:?}");
            assert_eq!(AllowedOrigins::parse([bad]), Err(RuleError::AllowedOrigins), "{bad:?}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("https://o{i}.example")).collect();
        assert_eq!(AllowedOrigins::parse(&many), Err(RuleError::AllowedOrigins));
        assert!(AllowedOrigins::parse(&many[..50]).is_ok());
    }

    #[test]
    fn allowed_origins_decide_framing() {
        // Nothing listed: no page may frame.
        let none = AllowedOrigins::default();
        assert_eq!(none.frame_ancestors(), "frame-ancestors 'none'");
        assert_eq!(AllowedOrigins::parse::<&str>([]).unwrap(), none);
        // Any page only when said, and then alone.
        let any = AllowedOrigins::parse(["*"]).unwrap();
        assert!(any.is_any() && any.allows("https://anything.example"));
        assert_eq!(any.frame_ancestors(), "frame-ancestors *");
        assert_eq!(AllowedOrigins::parse(["*", "https://a.example"]), Err(RuleError::AllowedOrigins));
        assert_eq!(AllowedOrigins::parse(["*", "'self'"]), Err(RuleError::AllowedOrigins));
        // 'self' (the edge's origin, shared by every tenant) only on request.
        let list = AllowedOrigins::parse(["https://app.example.com/", "http://127.0.0.1:3000"]).unwrap();
        assert!(list.allows("https://App.Example.com"));
        assert!(list.allows("https://app.example.com/"));
        assert!(!list.allows("https://evil.example.com"));
        assert!(!list.allows("null"));
        assert_eq!(list.frame_ancestors(), "frame-ancestors http://127.0.0.1:3000 https://app.example.com");
        let with_self = AllowedOrigins::parse(["'self'", "https://app.example.com"]).unwrap();
        assert_eq!(with_self.frame_ancestors(), "frame-ancestors 'self' https://app.example.com");
        assert!(!with_self.allows("https://evil.example.com"));
        // Stored and sent as the entries they were given, and read back the same.
        let json = serde_json::to_string(&with_self).unwrap();
        assert_eq!(json, r#"["'self'","https://app.example.com"]"#);
        assert_eq!(serde_json::from_str::<AllowedOrigins>(&json).unwrap(), with_self);
        assert_eq!(serde_json::to_string(&any).unwrap(), r#"["*"]"#);
        for bad in ["'none'", "'unsafe-inline'", "**", "self"] {
            assert_eq!(AllowedOrigins::parse([bad]), Err(RuleError::AllowedOrigins), "{bad:?}");
        }
    }

    #[test]
    fn numbers_and_lists() {
        assert_eq!(TokenLifetime::new(2_592_000).unwrap().seconds(), 2_592_000);
        for bad in [0, -1, 2_592_001] {
            assert_eq!(TokenLifetime::new(bad), Err(RuleError::TokenLifetime));
        }
        assert_eq!(Cutoff::new(-1), Err(RuleError::Cutoff));
        assert_eq!(Cutoff::new(1_000 + 86_400).unwrap().check_at(1_000).unwrap().unix(), 87_400);
        assert_eq!(Cutoff::new(1_000 + 86_401).unwrap().check_at(1_000), Err(RuleError::Cutoff));
        assert_eq!(Privileges::parse(["api", "api"]).unwrap().iter().collect::<Vec<_>>(), [Privilege::Api]);
        assert_eq!(Privileges::parse::<&str>([]), Err(RuleError::Privileges));
        assert_eq!(Privileges::parse(["root"]), Err(RuleError::Privileges));
    }

    #[test]
    fn serde_uses_the_rules_and_never_echoes_the_value() {
        let name: CredentialName = serde_json::from_str("\" Portal \"").unwrap();
        assert_eq!(name.as_str(), "Portal");
        for (json, rule) in
            [("424242", RuleError::Name), ("[\"secret-looking\"]", RuleError::Name), ("null", RuleError::Name)]
        {
            let e = serde_json::from_str::<CredentialName>(json).unwrap_err().to_string();
            assert!(e.starts_with(&rule.to_string()), "{json}: {e}");
            assert!(!e.contains("424242") && !e.contains("secret-looking"), "{e}");
        }
        let e = serde_json::from_str::<Privileges>("[\"api\", 777777]").unwrap_err().to_string();
        assert!(e.starts_with(&RuleError::Privileges.to_string()) && !e.contains("777777"), "{e}");
        let e = serde_json::from_str::<TokenLifetime>("\"60\"").unwrap_err().to_string();
        assert!(e.starts_with(&RuleError::TokenLifetime.to_string()), "{e}");
        assert!(serde_json::from_str::<TokenLifetime>("1.5").is_err());
        assert!(serde_json::from_str::<Cutoff>("1e3").is_err());
        let origins: AllowedOrigins = serde_json::from_str("[\"https://B.example\", \"https://a.example/\"]").unwrap();
        assert_eq!(serde_json::to_string(&origins).unwrap(), "[\"https://a.example\",\"https://b.example\"]");
    }
}
