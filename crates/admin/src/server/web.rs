//! The browser pages (`www/`): the Developer Access console at `/`, the
//! host-app demo at `/demo`, the token inspector at `/inspect`, and their
//! files under `/assets/` and `/pkg/` (the WASM module `cargo xtask www`
//! builds). They are built into the binary ([`Pages::Embedded`], by
//! `build.rs`), so `embedgate serve` serves them from any directory;
//! `--www DIR` serves a folder instead, read per request, so an edited page
//! shows on reload (development).
//!
//! Every page gets a strict policy: scripts, styles and connections only
//! from this server (`'wasm-unsafe-eval'` for the WASM module, nothing
//! inline), frames only from the configured edges (the demo's embed), and
//! the pages themselves cannot be framed (clickjacking).

use std::path::{Component, Path, PathBuf};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The pages built into the binary.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/www.rs"));
}

/// Where the pages come from.
#[derive(Debug, Clone, Default)]
pub enum Pages {
    /// The copy built into the binary.
    #[default]
    Embedded,
    /// A folder, read per request (`--www DIR`).
    Folder(PathBuf),
}

/// Where the pages are and who may be framed by them.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Where the pages come from.
    pub pages: Pages,
    /// Origins the demo page may frame (the edges'), for `frame-src`.
    pub frame_origins: Vec<String>,
}

impl WebConfig {
    /// The `pages`, framing the origins of `edges` (base URLs).
    pub fn new(pages: Pages, edges: &[String]) -> Self {
        let mut frame_origins: Vec<String> =
            edges.iter().filter_map(|e| embedgate_core::origin_of(e).map(str::to_owned)).collect();
        frame_origins.sort();
        frame_origins.dedup();
        Self { pages, frame_origins }
    }

    /// The `Content-Security-Policy` of every page.
    pub fn csp(&self) -> String {
        let frames = if self.frame_origins.is_empty() { "'none'".to_owned() } else { self.frame_origins.join(" ") };
        format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; connect-src 'self'; frame-src {frames}; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'self'"
        )
    }
}

/// The page routes: each serves one HTML file of the folder.
pub const PAGES: [(&str, &str); 3] = [("/", "index.html"), ("/demo", "demo.html"), ("/inspect", "inspect.html")];

/// `GET /`, `/demo`, `/inspect`.
pub async fn page(State(state): State<AppState>, uri: Uri) -> Response {
    let file = PAGES.iter().find(|(route, _)| *route == uri.path()).map_or("index.html", |(_, f)| f);
    serve(&state, Path::new(file)).await
}

/// `GET /assets/…` and `GET /pkg/…`.
pub async fn asset(State(state): State<AppState>, uri: Uri) -> Response {
    match safe_relative(uri.path().trim_start_matches('/')) {
        Some(path) => serve(&state, &path).await,
        None => not_found(&state),
    }
}

/// A request path as a path inside the folder: plain segments only (no
/// `..`, no root, no backslash or NUL, no hidden files).
fn safe_relative(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.contains(['\\', '\0']) {
        return None;
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(seg) if !seg.to_string_lossy().starts_with('.') => out.push(seg),
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn serve(state: &AppState, relative: &Path) -> Response {
    let bytes = match &state.web.pages {
        Pages::Embedded => {
            let name = relative.to_string_lossy();
            match embedded::FILES.binary_search_by(|(file, _)| (*file).cmp(&name)) {
                Ok(i) => embedded::FILES[i].1.to_vec(),
                Err(_) => return not_found(state),
            }
        }
        Pages::Folder(root) => {
            let path = root.join(relative);
            match tokio::fs::read(&path).await {
                Ok(bytes) => bytes,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory) => {
                    return not_found(state);
                }
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "cannot read a www file");
                    return super::AppError::Internal("www".to_owned()).into_response();
                }
            }
        }
    };
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(relative)));
    // Pages and assets carry no fingerprint (a folder may change under us): revalidate.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure_headers(h, state);
    resp
}

fn secure_headers(h: &mut HeaderMap, state: &AppState) {
    if let Ok(csp) = HeaderValue::from_str(&state.web.csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
}

fn not_found(state: &AppState) -> Response {
    let body = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · embedgate</title>\
                </head><body><h1>Not found</h1><p>No such page.</p></body></html>";
    let mut resp = (StatusCode::NOT_FOUND, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(h, state);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_segments_reach_the_folder() {
        assert_eq!(safe_relative("assets/app.js"), Some(PathBuf::from("assets/app.js")));
        assert_eq!(safe_relative("pkg/embedgate_wasm_bg.wasm"), Some(PathBuf::from("pkg/embedgate_wasm_bg.wasm")));
        for bad in ["", "../etc/passwd", "assets/../../x", "/etc/passwd", "assets/.env", "a\\b", "a\0b", ".git/config"]
        {
            assert_eq!(safe_relative(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_policy_frames_only_the_edges_and_is_never_framed() {
        let web =
            WebConfig::new(Pages::Embedded, &["http://127.0.0.1:8787".to_owned(), "https://edge.example/x".to_owned()]);
        let csp = web.csp();
        assert!(csp.contains("frame-src http://127.0.0.1:8787 https://edge.example;"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(WebConfig::default().csp().contains("frame-src 'none'"));
    }

    #[test]
    fn the_embedded_pages_are_sorted_and_hold_the_console() {
        let names: Vec<&str> = embedded::FILES.iter().map(|(name, _)| *name).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "not sorted: binary search would miss pages");
        for page in ["index.html", "demo.html", "inspect.html", "assets/console.js"] {
            assert!(names.contains(&page), "{page} is not embedded: {names:?}");
        }
        assert!(!names.iter().any(|n| n.split('/').any(|part| part.starts_with('.'))), "a hidden file is embedded");
    }
}
