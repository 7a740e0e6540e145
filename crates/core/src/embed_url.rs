//! Embed URLs (design §3): `/{org}/{workbook|page|element}/{id…}?:jwt=…&:embed=true`
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
}
