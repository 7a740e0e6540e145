//! The OpenAPI document of the admin API: its frame (info, tags, the bearer
//! scheme, the error responses every operation can give) around the paths
//! utoipa-axum collects from the real handlers' `#[utoipa::path]`, so
//! `GET /api/v1/openapi.json` describes exactly what runs.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HttpMethod, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::super::ErrorBody;

/// The document's frame; the paths come from the router.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "embedgate admin API",
        description = "Developer Access: members, member tokens and embed credentials of an org (architecture.md §7)."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "operations", description = "Health, metrics, this document, the edges' status and whose token this is."),
        (name = "members", description = "Members of an org, their API tokens (each issued only by its own member; they expire) and invitations (admins manage members; any member may list them)."),
        (name = "credentials", description = "Embed credentials (admins only; any member may list and view them); a secret is shown once."),
        (name = "audit", description = "The org's audit log (admins only)."),
        (name = "embed users", description = "Who loaded embeds with which credential, from the edges' reports (admins only: end users' emails)."),
        (name = "oauth", description = "The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) of credentials with the `api` privilege, and revocation of its access tokens (RFC 7009)."),
    )
)]
pub struct ApiDoc;

/// Adds what every operation shares once the paths are collected.
pub fn finish(doc: &mut Document) {
    Security.modify(doc);
    ErrorResponses.modify(doc);
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "This document.", body = Object)))]
pub async fn openapi_json(Extension(doc): Extension<Arc<Document>>) -> Json<Document> {
    Json(Document::clone(&doc))
}

// ---------------------------------------------------------------- modifiers

/// The `bearer` scheme: a member API token.
#[derive(Debug)]
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("egt_ member token")
                    .description(Some("A member API token from `embedgate init`, `POST /api/v1/invitations/redeem` or `POST …/members/{email}/tokens` (your own), or an API access token (`egc_…`) from `POST /api/v1/oauth/token`, acting as its credential's owner."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("OAuth client authentication (RFC 6749 §2.3.1): a credential's client ID and one of its live embed secrets (`egs_…`)."))
                    .build(),
            ),
        );
    }
}

/// The error responses: (status, component name, description, which operations give it).
const ERRORS: [(&str, &str, &str, Applies); 8] = [
    ("400", "MalformedJson", "`malformed_json`: the body is not JSON sent as application/json.", Applies::Body),
    ("401", "Unauthorized", "`unauthorized`: no, unknown or revoked member token.", Applies::Authed),
    ("403", "Forbidden", "`forbidden`: the member is not an admin of the org.", Applies::AdminOnly),
    (
        "404",
        "NotFound",
        "`not_found`: no such org (or not the token's org), member, token or credential.",
        Applies::Authed,
    ),
    ("413", "PayloadTooLarge", "`payload_too_large`: the body is over 2 MiB.", Applies::Body),
    ("422", "InvalidInput", "`invalid_input`: a field is missing or bad; `field` names it.", Applies::Input),
    (
        "429",
        "TooManyAttempts",
        "`too_many_attempts`: too many failed authentications from this address.",
        Applies::Authed,
    ),
    ("500", "Internal", "`internal`: a server fault (logged, never detailed).", Applies::All),
];

/// The org operations any active member may call (read-only; never 403).
const MEMBER_READS: [&str; 4] = [
    "/api/v1/orgs/{org}/members",
    "/api/v1/orgs/{org}/credentials",
    "/api/v1/orgs/{org}/credentials/{client_id}",
    "/api/v1/orgs/{org}/settings",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applies {
    All,
    Authed,
    AdminOnly,
    Body,
    Input,
}

/// Adds the shared error responses to `components.responses` and refers to
/// them from every operation that can give them.
#[derive(Debug)]
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, name, description, _) in ERRORS {
            components.responses.insert(
                name.to_owned(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                        )
                        .build(),
                ),
            );
        }
        for (path, item) in &mut openapi.paths.paths {
            // The OAuth endpoints answer RFC 6749 §5.2 errors, each documented at its handler.
            if path.starts_with("/api/v1/oauth/") {
                continue;
            }
            let authed = path.starts_with("/api/v1/orgs/");
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ] {
                let Some(op) = op else { continue };
                let body = op.request_body.is_some();
                let input = body
                    || (method == HttpMethod::Get
                        && op
                            .parameters
                            .iter()
                            .flatten()
                            .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)));
                for (status, name, _, applies) in ERRORS {
                    let wanted = match applies {
                        Applies::All => true,
                        Applies::Authed => authed,
                        Applies::AdminOnly => {
                            authed && !(method == HttpMethod::Get && MEMBER_READS.contains(&path.as_str()))
                        }
                        Applies::Body => body,
                        Applies::Input => input,
                    };
                    if wanted {
                        op.responses
                            .responses
                            .entry(status.to_owned())
                            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                    }
                }
            }
        }
    }
}
