//! Operations endpoints through `oneshot` against `app(state)`: `/metrics`
//! (Prometheus text, route-template labels, DB-backed gauges) and
//! `/api/v1/openapi.json` (every served route documented, schemas that match
//! the real bodies).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{backends, Env, ORG};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Every (method, route template) the router serves (architecture.md §7).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/orgs/{org}/members"),
    ("get", "/api/v1/orgs/{org}/members"),
    ("patch", "/api/v1/orgs/{org}/members/{email}"),
    ("post", "/api/v1/orgs/{org}/members/{email}/tokens"),
    ("get", "/api/v1/orgs/{org}/members/{email}/tokens"),
    ("post", "/api/v1/orgs/{org}/members/{email}/tokens/{token_id}/revoke"),
    ("post", "/api/v1/orgs/{org}/members/{email}/invitations"),
    ("post", "/api/v1/invitations/redeem"),
    ("post", "/api/v1/oauth/token"),
    ("post", "/api/v1/oauth/revoke"),
    ("post", "/api/v1/orgs/{org}/members/{email}/deactivate"),
    ("post", "/api/v1/orgs/{org}/credentials"),
    ("get", "/api/v1/orgs/{org}/credentials"),
    ("get", "/api/v1/orgs/{org}/credentials/{client_id}"),
    ("patch", "/api/v1/orgs/{org}/credentials/{client_id}"),
    ("delete", "/api/v1/orgs/{org}/credentials/{client_id}"),
    ("post", "/api/v1/orgs/{org}/credentials/{client_id}/revoke"),
    ("post", "/api/v1/orgs/{org}/credentials/{client_id}/rotate"),
    ("post", "/api/v1/orgs/{org}/credentials/{client_id}/retire-previous"),
    ("post", "/api/v1/orgs/{org}/keys/rotate"),
    ("get", "/api/v1/orgs/{org}/audit"),
    ("get", "/api/v1/orgs/{org}/settings"),
    ("patch", "/api/v1/orgs/{org}/settings"),
    ("get", "/api/v1/edges"),
    ("get", "/api/v1/orgs/{org}/edges"),
    ("get", "/api/v1/orgs/{org}/embed-users"),
    ("get", "/api/v1/me"),
];

/// A GET returning status, content type and the body as text.
async fn get_text(env: &Env, path: &str) -> (StatusCode, String, String) {
    let req = Request::builder().method("GET").uri(path).body(Body::empty()).unwrap();
    let res = env.app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
}

/// One sample line of the text format: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the exposition line by line; panics on any line that is neither a
/// `# HELP`/`# TYPE` comment nor `name{labels} value`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            assert!(kind == "HELP" || kind == "TYPE", "bad comment: {line}");
            assert!(name_ok(parts.next().unwrap()), "bad comment: {line}");
            if kind == "TYPE" {
                assert!(["counter", "gauge", "histogram"].contains(&parts.next().unwrap()), "bad TYPE: {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut labels = BTreeMap::new();
                let mut rest = inner;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(name_ok(key), "bad label name: {line}");
                    let mut value = String::new();
                    let mut chars = after.char_indices();
                    let end = loop {
                        match chars.next() {
                            Some((_, '\\')) => value.push(chars.next().unwrap().1),
                            Some((i, '"')) => break i,
                            Some((_, c)) => value.push(c),
                            None => panic!("unterminated label value: {line}"),
                        }
                    };
                    labels.insert(key.to_owned(), value);
                    rest = &after[end + 1..];
                    rest = rest.strip_prefix(',').unwrap_or(rest);
                }
                (name.to_owned(), labels)
            }
        };
        assert!(name_ok(&name), "bad metric name: {line}");
        samples.push((name, labels, value));
    }
    samples
}

fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name && l.len() == labels.len() && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    for backend in backends() {
        let env = Env::new(&backend).await;
        let creds = format!("/api/v1/orgs/{ORG}/credentials");
        let (s, _, text) = get_text(&env, "/metrics").await;
        assert_eq!(s, StatusCode::OK);
        let before = parse_exposition(&text);
        assert_eq!(find(&before, "embedgate_credentials", &[("state", "active")]), Some(0.0));
        assert!(!before.iter().any(|(n, _, _)| n == "embedgate_push_lag_seconds"), "no edges, no lag series");
        assert!(text.contains("# HELP embedgate_push_lag_seconds"));
        assert!(text.contains("# TYPE embedgate_push_message_bytes_max gauge"));
        assert!(text.contains("# TYPE embedgate_embed_users_dropped_total counter"));
        let version_before = find(&before, "embedgate_state_version", &[]).unwrap();

        let a = env.create_credential("one").await;
        env.create_credential("two").await;
        let id = a["client_id"].as_str().unwrap();
        let (s, _) = env.call("POST", &format!("{creds}/{id}/revoke"), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = env.call("GET", &creds, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = env.call("GET", &format!("{creds}/{id}"), Some(&env.admin_token), None).await;
        assert_eq!(s, StatusCode::OK);
        for junk in ["/nope/1", "/nope/2", "/api/v1/orgs/acme/nothing-here"] {
            let (s, _) = env.call("GET", junk, None, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
        }

        let (s, ct, text) = get_text(&env, "/metrics").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(ct, "text/plain; version=0.0.4");
        let after = parse_exposition(&text);
        let requests = |method: &str, route: &str, status: &str| {
            find(&after, "embedgate_http_requests_total", &[("method", method), ("route", route), ("status", status)])
        };
        let template = "/api/v1/orgs/{org}/credentials";
        assert_eq!(requests("POST", template, "201"), Some(2.0));
        assert_eq!(requests("GET", template, "401"), Some(1.0));
        assert_eq!(requests("GET", "/api/v1/orgs/{org}/credentials/{client_id}", "200"), Some(1.0));
        assert_eq!(requests("POST", "/api/v1/orgs/{org}/credentials/{client_id}/revoke", "200"), Some(1.0));
        assert_eq!(requests("GET", "unmatched", "404"), Some(3.0));
        assert_eq!(requests("GET", "/metrics", "200"), Some(1.0));
        // Never a raw path as a label.
        for (_, labels, _) in &after {
            if let Some(route) = labels.get("route") {
                assert!(route == "unmatched" || !route.contains(ORG) && !route.contains(id), "raw path label {route}");
            }
        }
        // The histogram: cumulative buckets ending in +Inf = count.
        let hist = |le: &str| {
            find(&after, "embedgate_http_request_duration_seconds_bucket", &[("route", template), ("le", le)])
        };
        assert_eq!(hist("+Inf"), Some(3.0));
        assert_eq!(find(&after, "embedgate_http_request_duration_seconds_count", &[("route", template)]), Some(3.0));
        assert!(find(&after, "embedgate_http_request_duration_seconds_sum", &[("route", template)]).unwrap() >= 0.0);
        let buckets: Vec<f64> = after
            .iter()
            .filter(|(n, l, _)| {
                n == "embedgate_http_request_duration_seconds_bucket"
                    && l.get("route").map(String::as_str) == Some(template)
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "buckets not cumulative: {buckets:?}");

        assert_eq!(find(&after, "embedgate_credentials", &[("state", "active")]), Some(1.0));
        assert_eq!(find(&after, "embedgate_credentials", &[("state", "revoked")]), Some(1.0));
        assert_eq!(find(&after, "embedgate_state_version", &[]), Some(version_before + 3.0));
        env.finish().await;
    }
}

/// Issue 14, item 6: every edge's detail (URL, key ids, errors, counters)
/// is for platform operators, the admins of an org in
/// EMBEDGATE_OPERATOR_ORGS; any other member, of any org, gets 403 and reads
/// only their org's view, which names no edge. (On the old code any member
/// of any org read every edge's URL and detail.)
#[tokio::test]
async fn edge_detail_is_for_operators_and_each_org_sees_its_own() {
    let backend = &backends()[0];
    let env = Env::with_state(backend, 20, |state| {
        state.push.edges = vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()];
        state.edges = std::sync::Arc::new(embedgate_admin::server::push::EdgeBoard::new(&state.push.edges));
        state.operator_orgs = std::sync::Arc::new([ORG.to_owned()].into());
    })
    .await;
    let (s, body) = env.call("GET", "/api/v1/edges", None, None).await;
    assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    // The operator org's admin: every edge in detail.
    let (s, body) = env.call("GET", "/api/v1/edges", Some(&env.admin_token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["edges"][0]["url"], "http://127.0.0.1:1");
    assert_eq!(body["edges"][0]["state"], "unknown", "never reached: {body}");
    assert_eq!(body["edges"][0]["applied_version"], Value::Null);
    assert!(body["state_version"].as_u64().is_some());
    // A viewer of the operator org, and the admin of another org: 403.
    let viewer = env.member_with_token("viewer@example.com", "viewer").await;
    let tenant = embedgate_admin::server::init_org(env.db(), env.keys(), "globex", "boss@globex.test")
        .await
        .unwrap()
        .unwrap()
        .to_string();
    for token in [viewer.as_str(), tenant.as_str()] {
        let (s, body) = env.call("GET", "/api/v1/edges", Some(token), None).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("operator_only")), "{body}");
        assert!(!body.to_string().contains("127.0.0.1"));
    }
    // Each org's members see whether each edge has their org's latest
    // change, and nothing that names or opens an edge.
    for (org, token) in [(ORG, viewer.as_str()), ("globex", tenant.as_str())] {
        let (s, body) = env.call("GET", &format!("/api/v1/orgs/{org}/edges"), Some(token), None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body["org_version"].as_u64().unwrap() > 0, "{body}");
        let edges = body["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 2);
        assert_eq!((edges[0]["edge"].as_str(), edges[1]["edge"].as_str()), (Some("edge-1"), Some("edge-2")));
        assert_eq!((edges[0]["state"].as_str(), edges[0]["has_latest"].as_bool()), (Some("unknown"), Some(false)));
        let text = body.to_string();
        assert!(!text.contains("127.0.0.1") && !text.contains("edge_key") && !text.contains("last_error"), "{text}");
    }
    // Another org's view is 404 (its existence is not revealed).
    let (s, _) = env.call("GET", &format!("/api/v1/orgs/{ORG}/edges"), Some(&tenant), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    env.finish().await;
}

#[tokio::test]
async fn metrics_list_configured_edges() {
    let backend = &backends()[0];
    let mut env = Env::new(backend).await;
    env.state.push.edges = vec!["https://edge-1.example".into(), "https://u:pw@edge-2.example".into()];
    env.state.edges = std::sync::Arc::new(embedgate_admin::server::push::EdgeBoard::new(&env.state.push.edges));
    env.app = embedgate_admin::server::app(env.state.clone());
    let (s, _, text) = get_text(&env, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let samples = parse_exposition(&text);
    assert_eq!(find(&samples, "embedgate_push_lag_seconds", &[("edge", "https://edge-1.example")]), Some(0.0));
    assert_eq!(find(&samples, "embedgate_push_lag_seconds", &[("edge", "https://edge-2.example")]), Some(0.0));
    assert!(!text.contains("pw@"), "edge labels carry no userinfo");
    env.finish().await;
}

/// `#/components/schemas/X` → the schema object `X`.
fn schema<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let name = reference.strip_prefix("#/components/schemas/").unwrap();
    &doc["components"]["schemas"][name]
}

/// The property names of an object schema (following `allOf` and `$ref`).
fn properties(doc: &Value, s: &Value) -> BTreeSet<String> {
    if let Some(r) = s["$ref"].as_str() {
        return properties(doc, schema(doc, r));
    }
    let mut names: BTreeSet<String> =
        s["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    for part in s["allOf"].as_array().into_iter().flatten() {
        names.extend(properties(doc, part));
    }
    names
}

/// The required property names of an object schema (following `allOf` and `$ref`).
fn required(doc: &Value, s: &Value) -> BTreeSet<String> {
    if let Some(r) = s["$ref"].as_str() {
        return required(doc, schema(doc, r));
    }
    let mut names: BTreeSet<String> =
        s["required"].as_array().into_iter().flatten().map(|v| v.as_str().unwrap().to_owned()).collect();
    for part in s["allOf"].as_array().into_iter().flatten() {
        names.extend(required(doc, part));
    }
    names
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// A real body has every required field of its documented schema and no undocumented one.
fn assert_matches(doc: &Value, route: &str, method: &str, status: &str, body: &Value) {
    let r = doc["paths"][route][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {route} {status}: no schema"));
    let s = schema(doc, r);
    let (documented, needed, got) = (properties(doc, s), required(doc, s), keys(body));
    assert!(got.is_subset(&documented), "{method} {route}: undocumented fields in {got:?} (documented {documented:?})");
    assert!(needed.is_subset(&got), "{method} {route}: required {needed:?} missing from {got:?}");
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let backend = &backends()[0];
    // Every route is called once without a token: more failures than the default limit allows one address.
    let env = Env::with_auth_limit(backend, 100).await;
    let (s, ct, text) = get_text(&env, "/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);

    // Exactly the served routes, and each really is served (not the fallback).
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().filter(|m| *m != "parameters").map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, expected);
    for (method, route) in ROUTES {
        let path = route
            .replace("{org}", ORG)
            .replace("{email}", "nobody@acme.test")
            .replace("{token_id}", "0123456789abcdef0123456789abcdef")
            .replace("{client_id}", "x");
        let (s, body) = env.call(&method.to_uppercase(), &path, None, None).await;
        if route.starts_with("/api/v1/orgs/") || ["/api/v1/edges", "/api/v1/me"].contains(route) {
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {route}: {body}");
        } else if *route == "/api/v1/invitations/redeem" {
            // No bearer token (the code is the credential): without a body, 422 naming `code`.
            assert_eq!((s, body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code")), "{body}");
        } else if route.starts_with("/api/v1/oauth/") {
            // RFC 6749 §5.2: without a form body, 400 `invalid_request`.
            assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
        } else {
            assert_eq!(s, StatusCode::OK, "{method} {route}");
        }
    }

    check_error_responses(&doc);
    check_bodies(&env, &doc).await;
    env.finish().await;
}

/// The bearer scheme, used by every org operation; errors with the error schema.
fn check_error_responses(doc: &Value) {
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    let error_required: BTreeSet<&str> =
        error["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(error_required, BTreeSet::from(["error", "message"]));
    for (method, route) in ROUTES.iter().filter(|(_, r)| r.starts_with("/api/v1/orgs/")) {
        let op = &doc["paths"][route][method];
        assert_eq!(op["security"], json!([{ "bearer": [] }]), "{method} {route}");
        // The reads open to every member never answer 403; everything else can.
        let reads = ["/members", "/credentials", "/credentials/{client_id}", "/settings"]
            .map(|r| format!("/api/v1/orgs/{{org}}{r}"))
            .contains(&(*route).to_owned())
            && *method == "get";
        assert_eq!(op["responses"]["403"].is_object(), !reads, "{method} {route} 403");
        for status in ["401", "403", "404", "429", "500"] {
            if status == "403" && reads {
                continue;
            }
            let response = &op["responses"][status];
            let response = match response["$ref"].as_str() {
                Some(r) => &doc["components"]["responses"][r.strip_prefix("#/components/responses/").unwrap()],
                None => response,
            };
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{method} {route} {status}"
            );
        }
    }
}

/// The request schemas, and the documented response schemas against real bodies.
async fn check_bodies(env: &Env, doc: &Value) {
    let create = &doc["paths"]["/api/v1/orgs/{org}/credentials"]["post"];
    for status in ["201", "400", "409", "413", "422"] {
        assert!(create["responses"][status].is_object(), "create credential {status}");
    }

    // The create-credential request schema.
    let request = schema(doc, create["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap());
    let request_required: BTreeSet<&str> =
        request["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(request_required, BTreeSet::from(["name", "owner", "privileges"]));
    assert_eq!(
        properties(doc, request),
        BTreeSet::from(
            [
                "name",
                "description",
                "owner",
                "privileges",
                "allowed_origins",
                "max_token_lifetime_s",
                "not_before_cutoff",
                "public_key"
            ]
            .map(String::from)
        )
    );
    // A public key is a JWK: an object with kty, crv, x (and y for P-256).
    let jwk = schema(doc, "#/components/schemas/PublicJwk");
    assert_eq!(properties(doc, jwk), BTreeSet::from(["kty", "crv", "x", "y"].map(String::from)));
    assert_eq!(required(doc, jwk), BTreeSet::from(["kty", "crv", "x"].map(String::from)));
    assert!(request["properties"]["public_key"].to_string().contains("#/components/schemas/PublicJwk"));

    // The documented response schemas match the real bodies.
    let created = env.create_credential("documented").await;
    assert_matches(doc, "/api/v1/orgs/{org}/credentials", "post", "201", &created);
    // Every credential field is always present (null when unset).
    let credential = schema(doc, "#/components/schemas/CredentialBody");
    assert_eq!(required(doc, credential), properties(doc, credential));
    let id = created["client_id"].as_str().unwrap();
    let admin = Some(env.admin_token.as_str());
    let (_, got) = env.call("GET", &format!("/api/v1/orgs/{ORG}/credentials/{id}"), admin, None).await;
    assert_matches(doc, "/api/v1/orgs/{org}/credentials/{client_id}", "get", "200", &got);
    let (_, got) = env.call("POST", &format!("/api/v1/orgs/{ORG}/credentials/{id}/rotate"), admin, None).await;
    assert_matches(doc, "/api/v1/orgs/{org}/credentials/{client_id}/rotate", "post", "200", &got);
    let (_, list) = env.call("GET", &format!("/api/v1/orgs/{ORG}/credentials"), admin, None).await;
    assert_matches(doc, "/api/v1/orgs/{org}/credentials", "get", "200", &list);
    let (_, audit) = env.call("GET", &format!("/api/v1/orgs/{ORG}/audit"), admin, None).await;
    assert_matches(doc, "/api/v1/orgs/{org}/audit", "get", "200", &audit);
    let (_, health) = env.call("GET", "/healthz", None, None).await;
    assert_matches(doc, "/healthz", "get", "200", &health);
    let (_, members) = env.call("GET", &format!("/api/v1/orgs/{ORG}/members"), admin, None).await;
    assert_matches(doc, "/api/v1/orgs/{org}/members", "get", "200", &members);
    let (s, updated) = env
        .call(
            "PATCH",
            &format!("/api/v1/orgs/{ORG}/credentials/{id}"),
            admin,
            Some(&json!({"description": "documented", "not_before_cutoff": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_matches(doc, "/api/v1/orgs/{org}/credentials/{client_id}", "patch", "200", &updated);
    let patch_credential = &doc["paths"]["/api/v1/orgs/{org}/credentials/{client_id}"]["patch"];
    for status in ["200", "400", "403", "404", "409", "413", "422"] {
        assert!(patch_credential["responses"][status].is_object(), "update credential {status}");
    }
    let request =
        schema(doc, patch_credential["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap());
    assert!(request["required"].as_array().is_none_or(Vec::is_empty), "every field is optional: {request}");
    assert_eq!(
        properties(doc, request),
        BTreeSet::from(
            ["name", "description", "privileges", "allowed_origins", "max_token_lifetime_s", "not_before_cutoff"]
                .map(String::from)
        )
    );
    // name and privileges cannot be cleared; the others can (null).
    for (field, nullable) in
        [("name", false), ("privileges", false), ("description", true), ("not_before_cutoff", true)]
    {
        let text = request["properties"][field].to_string();
        assert_eq!(text.contains("null"), nullable, "{field}: {text}");
    }
    let (s, changed) = env
        .call(
            "PATCH",
            &format!("/api/v1/orgs/{ORG}/members/{}", common::ADMIN),
            admin,
            Some(&json!({"account_type": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_matches(doc, "/api/v1/orgs/{org}/members/{email}", "patch", "200", &changed);
    let patch_member = &doc["paths"]["/api/v1/orgs/{org}/members/{email}"]["patch"];
    for status in ["200", "400", "403", "409", "413", "422"] {
        assert!(patch_member["responses"][status].is_object(), "update member {status}");
    }
    let request =
        schema(doc, patch_member["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap());
    assert_eq!(properties(doc, request), BTreeSet::from(["account_type".to_owned()]));
    let (s, bad) = env.call("POST", &format!("/api/v1/orgs/{ORG}/credentials"), admin, Some(&json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let error = schema(doc, "#/components/schemas/ErrorBody");
    assert!(keys(&bad).is_subset(&properties(doc, error)) && required(doc, error).is_subset(&keys(&bad)));
}

/// A push is not redirected: an edge URL answering 307 is shown failing,
/// with the redirect named, and nothing is sent where it points.
#[tokio::test]
async fn a_push_does_not_follow_a_redirect() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn serve(router: axum::Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let elsewhere = serve(axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "taken" }
    }))
    .await;
    let target = format!("http://{elsewhere}/.well-known/embedgate/sync");
    let redirector = serve(axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, target)]) }
    }))
    .await;

    let env = Env::new(&backends()[0]).await;
    let config = embedgate_admin::server::push::PushConfig {
        edges: vec![format!("http://{redirector}")],
        sync_keys: Some(Arc::new(embedgate_core::KeySet::single(embedgate_core::SyncKey::generate().unwrap()))),
        edge_key: Some(Arc::new(env.edge_key.clone())),
        ..Default::default()
    };
    let board = Arc::new(embedgate_admin::server::push::EdgeBoard::new(&config.edges));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    embedgate_admin::server::push::spawn(
        env.db().clone(),
        env.state.keys.clone(),
        "test",
        &config,
        board.clone(),
        &shutdown,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        let status = board.statuses().remove(0);
        if status.last_error.is_some() || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let _ = stop.send(true);
    let error = status.last_error.clone().unwrap_or_default();
    assert!(error.contains("HTTP 307") && error.contains("do not follow redirects"), "{status:?}");
    assert!(status.failing, "a redirecting edge is failing, not unreachable: {status:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached where the redirect pointed");
    env.finish().await;
}
