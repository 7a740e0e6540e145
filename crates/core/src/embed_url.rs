//! Embed URLs (architecture.md §3): `/{org}/{workbook|page|element}/{id…}?:jwt=…&:embed=true`
//! plus display parameters that pass through untouched.

use std::borrow::Cow;

use crate::types::OrgSlug;

/// What an embed URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedKind {
    /// A whole workbook.
    Workbook,
    /// One page of a workbook.
    Page,
    /// One element of a workbook.
    Element,
}

impl EmbedKind {
    /// The path segment.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Workbook => "workbook",
            Self::Page => "page",
            Self::Element => "element",
        }
    }
}

/// The parts of an embed URL's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbedTarget<'a> {
    /// The org slug (validated).
    pub org: &'a str,
    /// Workbook, page or element.
    pub kind: EmbedKind,
    /// The rest of the path (one or more non-empty segments).
    pub id: &'a str,
}

impl<'a> EmbedTarget<'a> {
    /// Parses a path (or an absolute URL, whose scheme and host are skipped;
    /// any query or fragment is ignored). `None` if it is not an embed path.
    pub fn parse(url: &'a str) -> Option<Self> {
        let path = match url.split_once("://") {
            Some((_, rest)) => &rest[rest.find('/')?..],
            None => url,
        };
        let path = path.split(['?', '#']).next().unwrap_or_default().strip_prefix('/')?;
        let mut parts = path.splitn(3, '/');
        let org = parts.next().filter(|o| OrgSlug::is_valid(o))?;
        let kind = match parts.next()? {
            "workbook" => EmbedKind::Workbook,
            "page" => EmbedKind::Page,
            "element" => EmbedKind::Element,
            _ => return None,
        };
        let id = parts.next().filter(|id| !id.is_empty() && id.split('/').all(|s| !s.is_empty()))?;
        Some(Self { org, kind, id })
    }
}

/// The value of query parameter `name` (e.g. `:jwt`), percent-decoded; the
/// name also matches percent-encoded (`%3Ajwt`). `None` if absent, repeated
/// (ambiguous), or not valid UTF-8 once decoded.
pub fn query_param<'q>(url_or_query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    let query = url_or_query.split_once('?').map_or(url_or_query, |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k).as_deref() == Some(name) {
            if found.is_some() {
                return None;
            }
            found = Some(percent_decode(v)?);
        }
    }
    found
}

/// The embed token of a URL or query: `Ok(None)` when there is no `:jwt`
/// parameter, the token when there is exactly one, and `malformed_token`
/// when it is repeated (ambiguous) or does not percent-decode to UTF-8.
pub fn embed_token(url_or_query: &str) -> Result<Option<Cow<'_, str>>, crate::VerifyError> {
    const AMBIGUOUS: crate::VerifyError =
        crate::VerifyError::MalformedToken("the :jwt parameter is repeated or not valid percent-encoding");
    match query_pairs(url_or_query).filter(|(k, _)| is_token_key(k)).count() {
        0 => Ok(None),
        1 => query_param(url_or_query, EMBED_TOKEN_PARAM).map(Some).ok_or(AMBIGUOUS),
        _ => Err(AMBIGUOUS),
    }
}

/// The query of `url_or_query` without its `:jwt` parameter(s), other
/// parameters untouched and in order (what the edge forwards to the origin).
pub fn query_without_token(url_or_query: &str) -> String {
    query_pairs(url_or_query)
        .filter(|(k, _)| !is_token_key(k))
        .map(|(k, v)| v.map_or_else(|| k.to_owned(), |v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether the query asks for a refresh (`:refresh=1`, exactly once): the
/// embed page sends its new token so, to extend its session in place
/// (architecture.md §5). Anything else (absent, repeated, another value)
/// is not a refresh.
pub fn is_refresh(url_or_query: &str) -> bool {
    query_param(url_or_query, REFRESH_PARAM).is_some_and(|v| v == "1")
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, e.g. a
/// `Referer`; `None` for anything else.
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (host_len > 0 && !rest[..host_len].contains('@')).then(|| &url[..scheme.len() + 3 + host_len])
}

const EMBED_TOKEN_PARAM: &str = ":jwt";
const REFRESH_PARAM: &str = ":refresh";

fn is_token_key(k: &str) -> bool {
    percent_decode(k).as_deref() == Some(EMBED_TOKEN_PARAM)
}

fn query_pairs(url_or_query: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let query = url_or_query.split_once('?').map_or(url_or_query, |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').filter(|p| !p.is_empty()).map(|pair| match pair.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (pair, None),
    })
}

fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn embed_paths() {
        let t = EmbedTarget::parse("/acme/workbook/wb-1?:jwt=x").unwrap();
        assert_eq!((t.org, t.kind, t.id), ("acme", EmbedKind::Workbook, "wb-1"));
        let t = EmbedTarget::parse("https://edge.example/acme/element/wb/el-9").unwrap();
        assert_eq!((t.org, t.kind, t.id), ("acme", EmbedKind::Element, "wb/el-9"));
        for bad in [
            "/",
            "/acme",
            "/acme/workbook",
            "/acme/workbook/",
            "/ACME/workbook/1",
            "/acme/report/1",
            "acme/workbook/1",
            "/acme/page//x",
        ] {
            assert_eq!(EmbedTarget::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("/a/workbook/1?:jwt=abc&:embed=true", ":jwt").as_deref(), Some("abc"));
        assert_eq!(query_param("?%3Ajwt=a.b.c&theme=dark", ":jwt").as_deref(), Some("a.b.c"));
        assert_eq!(query_param("/x?theme=dark", ":jwt"), None);
        assert_eq!(query_param("/x?:jwt=a&:jwt=b", ":jwt"), None, "repeated is ambiguous");
        assert_eq!(query_param("/x?:jwt=%zz", ":jwt"), None);
    }

    #[test]
    fn embed_tokens_and_forwarded_queries() {
        assert_eq!(embed_token("/a/workbook/1?theme=dark").unwrap(), None);
        assert_eq!(embed_token("/a/workbook/1").unwrap(), None);
        assert_eq!(embed_token("/a/workbook/1?%3ajwt=t.o.k").unwrap().as_deref(), Some("t.o.k"));
        for bad in ["?:jwt=a&:jwt=b", "?:jwt=a&%3Ajwt=a", "?:jwt=%zz", "?:jwt=%C3%28"] {
            assert_eq!(embed_token(bad).unwrap_err().code(), "malformed_token", "{bad}");
        }
        assert_eq!(
            query_without_token("/a/workbook/1?theme=dark&:jwt=x&:embed=true&flag"),
            "theme=dark&:embed=true&flag"
        );
        assert_eq!(query_without_token("/a/workbook/1?:jwt=x"), "");
        assert_eq!(query_without_token("theme=dark&%3Ajwt=x"), "theme=dark");
    }

    #[test]
    fn refresh_requests() {
        assert!(is_refresh("/a/workbook/1?:jwt=x&:refresh=1"));
        assert!(is_refresh("?%3Arefresh=1&:jwt=x"));
        for not in ["/a/workbook/1?:jwt=x", "?:refresh=0", "?:refresh", "?:refresh=1&:refresh=1", "?refresh=1"] {
            assert!(!is_refresh(not), "{not}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://app.example.com/page?q#f"), Some("https://app.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:3000"), Some("http://127.0.0.1:3000"));
        for bad in ["javascript:alert(1)", "https://", "ftp://x/", "https://u:p@host/", "/relative"] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }
}
