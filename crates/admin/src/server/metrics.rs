//! `GET /metrics`: Prometheus text exposition (format 0.0.4) from a small
//! hand-written registry. Request counters and latency histograms are kept
//! by a middleware, labelled by the *matched route template* (never the raw
//! path, so label cardinality stays bounded); the credential and state
//! gauges are read from the database at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};

/// The `content-type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The latency histogram's upper bounds, in seconds.
pub const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket of [`BUCKETS`] (the `+Inf` one is `count`).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// (method, route, status) → count.
    requests: BTreeMap<(&'static str, String, u16), u64>,
    /// route → latency histogram.
    durations: BTreeMap<String, Histogram>,
}

/// The in-process registry of request metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// A method label from a closed set (an extension method must not add series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A label value escaped for the text format (`\`, `"` and line feeds).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// An edge URL as a label: any `user:password@` dropped (the endpoint is public).
pub(crate) fn edge_label(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    if scheme.is_empty() {
        rest.to_owned()
    } else {
        format!("{scheme}://{rest}")
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *inner.requests.entry((method_label(method), route.to_owned(), status)).or_insert(0) += 1;
        let h = inner.durations.entry(route.to_owned()).or_default();
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            h.buckets[i] += 1;
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// The request counter and histogram families in the text format.
    pub fn render_requests(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        out.push_str(
            "# HELP embedgate_http_requests_total HTTP requests by method, matched route template and status.\n",
        );
        out.push_str("# TYPE embedgate_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "embedgate_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP embedgate_http_request_duration_seconds HTTP request latency by matched route template.\n",
        );
        out.push_str("# TYPE embedgate_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.durations {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "embedgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "embedgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "embedgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "embedgate_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
    }
}

/// The middleware counting every request (installed with `from_fn_with_state`
/// as a `Router::layer`, so the matched route is known).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe(&method, &route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

/// `GET /metrics` (no authentication).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition, format 0.0.4: \
        `embedgate_http_requests_total{method,route,status}`, \
        `embedgate_http_request_duration_seconds{route}`, `embedgate_credentials{state}`, \
        `embedgate_state_version`, `embedgate_push_lag_seconds{edge}`, `embedgate_edge_applied_version{edge}`, \
        `embedgate_push_failures_total{edge}`, `embedgate_push_bytes_total{edge}`, `embedgate_pushes_total{edge,kind}`, \
        `embedgate_push_message_bytes_max{edge,kind}`, `embedgate_embed_users_dropped_total{edge}`.",
        body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn scrape(State(state): State<AppState>) -> Result<Response, AppError> {
    let (active, revoked) = crate::store::credentials::counts(&state.store.pool).await?;
    let version = state.store.state_version().await?;
    let mut out = String::with_capacity(4096);
    state.metrics.render_requests(&mut out);
    out.push_str("# HELP embedgate_credentials Embed credentials by state, over all orgs.\n");
    out.push_str("# TYPE embedgate_credentials gauge\n");
    let _ = writeln!(out, "embedgate_credentials{{state=\"active\"}} {active}");
    let _ = writeln!(out, "embedgate_credentials{{state=\"revoked\"}} {revoked}");
    out.push_str("# HELP embedgate_state_version The state version the edge push follows.\n");
    out.push_str("# TYPE embedgate_state_version gauge\n");
    let _ = writeln!(out, "embedgate_state_version {version}");
    out.push_str(
        "# HELP embedgate_push_lag_seconds Seconds each edge has been behind a state version this admin had \
         (0 when in sync).\n",
    );
    out.push_str("# TYPE embedgate_push_lag_seconds gauge\n");
    let statuses = state.edges.statuses();
    for edge in &statuses {
        let _ = writeln!(out, "embedgate_push_lag_seconds{{edge=\"{}\"}} {}", escape(&edge.url), edge.lag_seconds());
    }
    out.push_str("# HELP embedgate_edge_applied_version The state version each edge last acknowledged.\n");
    out.push_str("# TYPE embedgate_edge_applied_version gauge\n");
    for edge in &statuses {
        if let Some(v) = edge.applied_version {
            let _ = writeln!(out, "embedgate_edge_applied_version{{edge=\"{}\"}} {v}", escape(&edge.url));
        }
    }
    out.push_str("# HELP embedgate_push_failures_total Failed pushes and probes per edge.\n");
    out.push_str("# TYPE embedgate_push_failures_total counter\n");
    for edge in &statuses {
        let _ = writeln!(out, "embedgate_push_failures_total{{edge=\"{}\"}} {}", escape(&edge.url), edge.failures);
    }
    out.push_str("# HELP embedgate_push_bytes_total Bytes sent to each edge (sealed sync bodies of every kind).\n");
    out.push_str("# TYPE embedgate_push_bytes_total counter\n");
    for edge in &statuses {
        let _ = writeln!(
            out,
            "embedgate_push_bytes_total{{edge=\"{}\"}} {}",
            escape(&edge.url),
            edge.bytes.iter().sum::<u64>()
        );
    }
    out.push_str("# HELP embedgate_pushes_total Sync messages sent to each edge, by kind (delta, page, probe).\n");
    out.push_str("# TYPE embedgate_pushes_total counter\n");
    for edge in &statuses {
        for (i, kind) in super::push::Kind::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "embedgate_pushes_total{{edge=\"{}\",kind=\"{}\"}} {}",
                escape(&edge.url),
                kind.as_str(),
                edge.messages[i]
            );
        }
    }
    out.push_str(
        "# HELP embedgate_push_message_bytes_max The largest sync message sent to each edge since start, by kind \
         (sealed body bytes; the edge refuses more than 1 MiB).\n",
    );
    out.push_str("# TYPE embedgate_push_message_bytes_max gauge\n");
    for edge in &statuses {
        for (i, kind) in super::push::Kind::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "embedgate_push_message_bytes_max{{edge=\"{}\",kind=\"{}\"}} {}",
                escape(&edge.url),
                kind.as_str(),
                edge.largest[i]
            );
        }
    }
    out.push_str(
        "# HELP embedgate_embed_users_dropped_total Embed-user sightings each edge counted but could not keep \
         (an isolate's flush window was full): the embed users directory misses them.\n",
    );
    out.push_str("# TYPE embedgate_embed_users_dropped_total counter\n");
    for edge in &statuses {
        let _ = writeln!(
            out,
            "embedgate_embed_users_dropped_total{{edge=\"{}\"}} {}",
            escape(&edge.url),
            edge.users_dropped
        );
    }
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::edge_label;

    #[test]
    fn edge_labels_carry_no_userinfo() {
        assert_eq!(edge_label("https://edge.example/x"), "https://edge.example/x");
        assert_eq!(edge_label("https://u:p@edge.example:8443/x@y"), "https://edge.example:8443/x@y");
        assert_eq!(edge_label("u:p@edge.example"), "edge.example");
    }
}
