//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the admin API,
//! generated with `utoipa` from the annotations below and typed schemas of
//! the JSON bodies (they mirror what the handlers in [`super::api`] write;
//! the tests compare a real response with its schema). The error responses
//! every operation can give are added by one modifier, so no path forgets
//! them.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HttpMethod, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// `GET /api/v1/openapi.json` (no authentication).
pub async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// The admin API's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "embedgate admin API",
        description = "Developer Access: members, member tokens and embed credentials of an org (design §7)."
    ),
    paths(
        paths::healthz,
        paths::metrics,
        paths::openapi_json,
        paths::create_member,
        paths::list_members,
        paths::update_member,
        paths::issue_token,
        paths::revoke_token,
        paths::deactivate_member,
        paths::create_credential,
        paths::list_credentials,
        paths::get_credential,
        paths::update_credential,
        paths::revoke_credential,
        paths::rotate_credential,
        paths::retire_previous,
        paths::list_audit,
        paths::list_edges,
    ),
    components(schemas(
        ErrorBody,
        Health,
        AccountTypeName,
        PrivilegeName,
        CredentialStatus,
        CreateMemberRequest,
        UpdateMemberRequest,
        MemberBody,
        MemberList,
        IssuedToken,
        RevokedToken,
        CreateCredentialRequest,
        UpdateCredentialRequest,
        CredentialBody,
        EdgeList,
        EdgeStatusBody,
        CredentialWithSecret,
        CredentialPage,
        AuditItem,
        AuditPage,
    )),
    modifiers(&Security, &ErrorResponses),
    tags(
        (name = "operations", description = "Health, metrics and this document; no token needed."),
        (name = "members", description = "Members of an org and their API tokens (admins only; any member may list them)."),
        (name = "credentials", description = "Embed credentials (admins only; any member may list and view them); a secret is shown once."),
        (name = "audit", description = "The org's audit log (admins only)."),
    )
)]
pub struct ApiDoc;

// ---------------------------------------------------------------- schemas

/// Every error: a machine-readable code and a message that never carries a
/// secret, a token or the offending value.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthorized`, `too_many_attempts`, `forbidden`, `not_found`, `malformed_json`,
    /// `payload_too_large`, `invalid_input`, `name_taken`, `member_exists`,
    /// `already_revoked`, `credential_revoked`, `retire_first`, `no_previous`,
    /// `last_admin` or `internal`.
    #[schema(example = "invalid_input")]
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
    /// With `invalid_input` only: the offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always true (the database answered).
    pub ok: bool,
    /// The state version the edge push follows.
    pub state_version: i64,
}

/// A member's account type.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountTypeName {
    /// Manages the org, including credentials.
    Admin,
    /// Creator.
    Creator,
    /// Explorer.
    Explorer,
    /// Viewer.
    Viewer,
}

/// A credential privilege.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PrivilegeName {
    /// Signed embedding.
    Embedding,
    /// API access.
    Api,
}

/// Whether a credential is live.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStatus {
    /// Live.
    Active,
    /// Revoked (for good).
    Revoked,
}

/// `POST …/members`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateMemberRequest {
    /// The member's email address (lower-cased).
    pub email: String,
    /// Their account type.
    pub account_type: AccountTypeName,
}

/// `PATCH …/members/{email}`: only `account_type` may be changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateMemberRequest {
    /// The new account type (the same one again changes nothing).
    pub account_type: AccountTypeName,
}

/// A member of an org.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    /// Email address (lower-case).
    pub email: String,
    /// Account type.
    pub account_type: AccountTypeName,
    /// `active` or `deactivated`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// `GET …/members`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// By email.
    pub members: Vec<MemberBody>,
}

/// `POST …/members/{email}/tokens`: the token is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The token's ID (32 hex characters), for revoking it.
    pub id: String,
    /// The member.
    pub email: String,
    /// `egt_` and 64 hex characters: send as `Authorization: Bearer …`.
    pub token: String,
}

/// `POST …/members/{email}/tokens/{token_id}/revoke`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedToken {
    /// The token's ID.
    pub id: String,
    /// The member.
    pub email: String,
    /// Unix seconds.
    #[schema(required = true)]
    pub revoked_at: Option<i64>,
}

/// `POST …/credentials`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateCredentialRequest {
    /// 1 to 100 characters (trimmed), unique in the org (also among revoked ones).
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// An active member's email address.
    pub owner: String,
    /// Non-empty.
    pub privileges: Vec<PrivilegeName>,
    /// At most 50 `http(s)://host[:port]` origins.
    pub allowed_origins: Option<Vec<String>>,
    /// 1 to 2592000 (30 days).
    pub max_token_lifetime_s: Option<i64>,
    /// Unix seconds, from 0 to one day from now: tokens issued before it are refused.
    pub not_before_cutoff: Option<i64>,
}

/// `PATCH …/credentials/{client_id}`: at least one field; each is checked as
/// on create, and null clears the optional ones. Any other field is 422.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateCredentialRequest {
    /// 1 to 100 characters (trimmed), unique in the org (also among revoked ones).
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// At most 1000 characters; null clears it.
    pub description: Option<String>,
    /// Non-empty.
    #[schema(nullable = false)]
    pub privileges: Option<Vec<PrivilegeName>>,
    /// At most 50 `http(s)://host[:port]` origins; null or `[]`: any origin.
    pub allowed_origins: Option<Vec<String>>,
    /// 1 to 2592000 (30 days); null clears it.
    pub max_token_lifetime_s: Option<i64>,
    /// Unix seconds, from 0 to one day from now: tokens issued (`iat`) before it are
    /// refused, so setting it to now cuts off every token issued so far. Null clears it.
    pub not_before_cutoff: Option<i64>,
}

/// An embed credential (never a secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialBody {
    /// The public client ID.
    pub client_id: String,
    /// The org slug.
    pub org: String,
    /// Its name.
    pub name: String,
    /// Its description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// The owner's email address.
    pub owner: String,
    /// The owner's account type (null if the owner is gone).
    #[schema(required = true)]
    pub owner_account_type: Option<AccountTypeName>,
    /// Its privileges.
    pub privileges: Vec<PrivilegeName>,
    /// Active or revoked.
    pub status: CredentialStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// The admin who created it.
    pub created_by: String,
    /// Unix seconds.
    #[schema(required = true)]
    pub revoked_at: Option<i64>,
    /// The admin who revoked it.
    #[schema(required = true)]
    pub revoked_by: Option<String>,
    /// Unix seconds, as reported by the edge.
    #[schema(required = true)]
    pub last_used_at: Option<i64>,
    /// The secret generations that verify (current first; two after a rotation).
    pub live_generations: Vec<i64>,
    /// Allowed embedding origins (empty: any).
    pub allowed_origins: Vec<String>,
    /// The longest token lifetime it accepts.
    #[schema(required = true)]
    pub max_token_lifetime_s: Option<i64>,
    /// Tokens issued before it are refused.
    #[schema(required = true)]
    pub not_before_cutoff: Option<i64>,
}

/// A credential with its new secret: the only answer that ever carries one.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialWithSecret {
    /// The credential.
    #[serde(flatten)]
    pub credential: CredentialBody,
    /// The embed secret of `generation`; store it now, it is never shown again.
    pub secret: String,
    /// The secret's generation.
    pub generation: i64,
}

/// `GET …/credentials`: one page in creation order.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialPage {
    /// The credentials.
    pub credentials: Vec<CredentialBody>,
    /// The `after` cursor of the next page; null on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    /// Increasing ID (the paging cursor).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who did it (a member's email, or `embedgate-init`).
    pub actor: String,
    /// E.g. `credential.create`, `credential.rotate`, `member.token_issue`.
    pub action: String,
    /// The client ID, member email or org acted on.
    pub target: String,
    /// Action-specific details (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `GET …/audit`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditItem>,
    /// The `before` cursor of the next page; null on the last.
    #[schema(required = true)]
    pub next_before: Option<i64>,
}

/// `GET /api/v1/edges`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeList {
    /// The admin's current state version.
    pub state_version: u64,
    /// Every configured edge, in `EMBEDGATE_EDGES` order.
    pub edges: Vec<EdgeStatusBody>,
}

/// What the admin knows of one edge (design §6).
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeStatusBody {
    /// The edge's base URL (without userinfo).
    pub url: String,
    /// `in_sync`, `behind`, `ahead`, `unreachable` or `unknown`.
    pub state: String,
    /// Seconds the edge has been behind a version this admin had (0 in sync).
    pub lag_seconds: f64,
    /// The version the edge last acknowledged; null if never reached.
    #[schema(required = true)]
    pub applied_version: Option<u64>,
    /// When the admin issued that version (Unix seconds).
    #[schema(required = true)]
    pub applied_issued_at: Option<i64>,
    /// The last authentic ack (Unix seconds).
    #[schema(required = true)]
    pub last_ack_at: Option<i64>,
    /// The last push or probe tried (Unix seconds).
    #[schema(required = true)]
    pub last_attempt_at: Option<i64>,
    /// The last failure (or why the edge is ahead); null when fine.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Snapshots pushed since start.
    pub pushes: u64,
    /// Probes sent since start.
    pub probes: u64,
    /// Failed attempts since start.
    pub failures: u64,
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
                    .description(Some("A member API token from `embedgate init` or `POST …/members/{email}/tokens`."))
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
const MEMBER_READS: [&str; 3] =
    ["/api/v1/orgs/{org}/members", "/api/v1/orgs/{org}/credentials", "/api/v1/orgs/{org}/credentials/{client_id}"];

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
            let authed = path.starts_with("/api/v1/orgs/");
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
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

// ---------------------------------------------------------------- paths

/// The operations, annotated here (the handlers live in [`super::api`] and
/// [`super::metrics`]); these functions only carry the annotations.
#[allow(dead_code, clippy::unused_async)]
mod paths {
    use super::{
        AuditPage, CreateCredentialRequest, CreateMemberRequest, CredentialBody, CredentialPage, CredentialWithSecret,
        EdgeList, ErrorBody, Health, IssuedToken, MemberBody, MemberList, RevokedToken, UpdateCredentialRequest,
        UpdateMemberRequest,
    };

    #[utoipa::path(get, path = "/healthz", tag = "operations",
        responses((status = 200, description = "The server and its database are up.", body = Health)))]
    pub fn healthz() {}

    #[utoipa::path(get, path = "/metrics", tag = "operations",
        responses((status = 200, description = "Prometheus text exposition, format 0.0.4: \
            `embedgate_http_requests_total{method,route,status}`, \
            `embedgate_http_request_duration_seconds{route}`, `embedgate_credentials{state}`, \
            `embedgate_state_version`, `embedgate_push_lag_seconds`.",
            body = String, content_type = "text/plain; version=0.0.4")))]
    pub fn metrics() {}

    #[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
        responses((status = 200, description = "This document.", body = Object)))]
    pub fn openapi_json() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "members",
        params(("org" = String, Path, description = "The org slug.")),
        request_body = CreateMemberRequest,
        security(("bearer" = [])),
        responses(
            (status = 201, description = "The member was added.", body = MemberBody),
            (status = 409, description = "`member_exists`.", body = ErrorBody),
        ))]
    pub fn create_member() {}

    /// Open to every active member of the org (read-only), not only admins.
    #[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
        params(("org" = String, Path, description = "The org slug.")),
        security(("bearer" = [])),
        responses((status = 200, description = "The org's members by email.", body = MemberList)))]
    pub fn list_members() {}

    /// The edges carry credential owners' account types, so a change is pushed
    /// to them; the same type again is a no-op (no audit entry).
    #[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{email}", tag = "members",
        params(("org" = String, Path, description = "The org slug."),
               ("email" = String, Path, description = "The member's email address.")),
        request_body = UpdateMemberRequest,
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The member with the new account type.", body = MemberBody),
            (status = 409, description = "`last_admin`: it would demote the org's last active admin.", body = ErrorBody),
        ))]
    pub fn update_member() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/tokens", tag = "members",
        params(("org" = String, Path, description = "The org slug."),
               ("email" = String, Path, description = "An active member's email address.")),
        security(("bearer" = [])),
        responses((status = 201, description = "A new API token, shown this once.", body = IssuedToken)))]
    pub fn issue_token() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/tokens/{token_id}/revoke", tag = "members",
        params(("org" = String, Path, description = "The org slug."),
               ("email" = String, Path, description = "The member's email address."),
               ("token_id" = String, Path, description = "The token's ID (32 hex characters).")),
        security(("bearer" = [])),
        responses((status = 200, description = "Revoked (idempotent).", body = RevokedToken)))]
    pub fn revoke_token() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/deactivate", tag = "members",
        params(("org" = String, Path, description = "The org slug."),
               ("email" = String, Path, description = "The member's email address.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "Deactivated; all their tokens stop working.", body = MemberBody),
            (status = 409, description = "`last_admin`: the org's last active admin.", body = ErrorBody),
        ))]
    pub fn deactivate_member() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials", tag = "credentials",
        params(("org" = String, Path, description = "The org slug.")),
        request_body = CreateCredentialRequest,
        security(("bearer" = [])),
        responses(
            (status = 201, description = "Created; the secret is shown this once.", body = CredentialWithSecret),
            (status = 409, description = "`name_taken`.", body = ErrorBody),
        ))]
    pub fn create_credential() {}

    /// Open to every active member of the org (read-only), not only admins.
    #[utoipa::path(get, path = "/api/v1/orgs/{org}/credentials", tag = "credentials",
        params(("org" = String, Path, description = "The org slug."),
               ("limit" = Option<i64>, Query, description = "Page size, 1 to 1000 (default 100)."),
               ("after" = Option<String>, Query, description = "The `next` cursor of the previous page.")),
        security(("bearer" = [])),
        responses((status = 200, description = "One page of credentials in creation order (no secrets).", body = CredentialPage)))]
    pub fn list_credentials() {}

    /// Open to every active member of the org (read-only), not only admins.
    #[utoipa::path(get, path = "/api/v1/orgs/{org}/credentials/{client_id}", tag = "credentials",
        params(("org" = String, Path, description = "The org slug."),
               ("client_id" = String, Path, description = "The credential's client ID.")),
        security(("bearer" = [])),
        responses((status = 200, description = "The credential (no secret).", body = CredentialBody)))]
    pub fn get_credential() {}

    /// Changes the given fields (the rest stay); the edges get the new policy. A
    /// body that changes nothing answers 200 without an audit entry.
    #[utoipa::path(patch, path = "/api/v1/orgs/{org}/credentials/{client_id}", tag = "credentials",
        params(("org" = String, Path, description = "The org slug."),
               ("client_id" = String, Path, description = "The credential's client ID.")),
        request_body = UpdateCredentialRequest,
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The updated credential (no secret).", body = CredentialBody),
            (status = 409, description = "`name_taken` or `credential_revoked`.", body = ErrorBody),
        ))]
    pub fn update_credential() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/revoke", tag = "credentials",
        params(("org" = String, Path, description = "The org slug."),
               ("client_id" = String, Path, description = "The credential's client ID.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "Revoked.", body = CredentialBody),
            (status = 409, description = "`already_revoked`.", body = ErrorBody),
        ))]
    pub fn revoke_credential() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/rotate", tag = "credentials",
        params(("org" = String, Path, description = "The org slug."),
               ("client_id" = String, Path, description = "The credential's client ID.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "A new secret, shown this once; the previous one stays live.", body = CredentialWithSecret),
            (status = 409, description = "`credential_revoked` or `retire_first` (two secrets live).", body = ErrorBody),
        ))]
    pub fn rotate_credential() {}

    #[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/retire-previous", tag = "credentials",
        params(("org" = String, Path, description = "The org slug."),
               ("client_id" = String, Path, description = "The credential's client ID.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The previous secret no longer verifies.", body = CredentialBody),
            (status = 409, description = "`credential_revoked` or `no_previous`.", body = ErrorBody),
        ))]
    pub fn retire_previous() {}

    #[utoipa::path(get, path = "/api/v1/orgs/{org}/audit", tag = "audit",
        params(("org" = String, Path, description = "The org slug."),
               ("limit" = Option<i64>, Query, description = "Page size, 1 to 500 (default 50)."),
               ("before" = Option<i64>, Query, description = "The `next_before` cursor of the previous page.")),
        security(("bearer" = [])),
        responses((status = 200, description = "Audit entries, newest first.", body = AuditPage)))]
    pub fn list_audit() {}

    #[utoipa::path(get, path = "/api/v1/edges", tag = "operations",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "Every configured edge's applied version, lag and last contact. \
                Any active member's token of any org may read it (it holds no org data).", body = EdgeList),
            (status = 401, description = "No valid member token.", body = ErrorBody),
            (status = 429, description = "Too many failed authentications from this address.", body = ErrorBody)))]
    pub fn list_edges() {}
}
