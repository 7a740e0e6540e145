//! `…/members`: an org's members and their API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use embedgate_core::rules::{Email, MemberPatch, MemberStatus, NewMember};
use embedgate_core::AccountType;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::{new_member_token, random_id, Caller, OrgAdmin, OrgMember};
use super::super::extract::{ApiJson, MaybeJson, Path};
use super::super::{now, AppError, AppState, ErrorBody};
use crate::store::members::{self, Member};
use crate::store::tokens::{self, TokenInfo};
use crate::store::Event;

/// A member of an org.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    /// Email address (lower-case).
    pub email: Email,
    /// Account type.
    pub account_type: AccountType,
    /// Whether they may act.
    pub status: MemberStatus,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Member> for MemberBody {
    fn from(m: Member) -> Self {
        Self { email: m.email, account_type: m.account_type, status: m.status, created_at: m.created_at }
    }
}

/// `GET …/members`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// By email.
    pub members: Vec<MemberBody>,
}

/// A new API token: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The token's ID (32 hex characters), for revoking it.
    pub id: String,
    /// The member.
    pub email: Email,
    /// `egt_` and 64 hex characters: send as `Authorization: Bearer …`.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub token: zeroize::Zeroizing<String>,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
}

/// `POST …/members/{email}/tokens` (the body is optional).
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct NewTokenBody {
    /// Seconds the token lives, from 60 to the server's maximum (`EMBEDGATE_TOKEN_MAX_TTL`, 90 days
    /// by default); absent or null: the server's default (`EMBEDGATE_TOKEN_DEFAULT_TTL`, 30 days).
    pub expires_in_s: Option<i64>,
}

fn expose<S: serde::Serializer>(token: &zeroize::Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token)
}

/// A member API token (never the token itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// Its ID (32 hex characters).
    pub id: String,
    /// Whose it is.
    pub email: Email,
    /// Unix seconds.
    pub created_at: i64,
    /// Who issued it.
    pub created_by: String,
    /// Unix seconds; null unless revoked.
    #[schema(required = true)]
    pub revoked_at: Option<i64>,
    /// When it stops (or stopped) working, Unix seconds.
    pub expires_at: i64,
}

impl From<TokenInfo> for TokenBody {
    fn from(t: TokenInfo) -> Self {
        Self {
            id: t.id,
            email: t.email,
            created_at: t.created_at,
            created_by: t.created_by,
            revoked_at: t.revoked_at,
            expires_at: t.expires_at,
        }
    }
}

/// `GET …/members/{email}/tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Newest first.
    pub tokens: Vec<TokenBody>,
}

/// A member's email in the path: one that cannot be an email names no member.
fn member_email(raw: &str) -> Result<Email, AppError> {
    Email::parse(raw).map_err(|_| AppError::NotFound("member"))
}

/// Adds a member.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "The org slug.")),
    request_body = NewMember,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The member was added.", body = MemberBody),
        (status = 409, description = "`member_exists`.", body = ErrorBody),
    ))]
pub async fn create_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<MemberBody>), AppError> {
    let mut change = state.store.change_by(&org, &admin).await?;
    let member = change.add_member(&new.email, new.account_type, now()).await?;
    change.commit(Event::MemberCreated { email: new.email, account_type: new.account_type }).await?;
    Ok((StatusCode::CREATED, Json(member.into())))
}

/// The org's members. Open to every active member of the org (read-only), not only admins.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "The org slug.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The org's members by email.", body = MemberList)))]
pub async fn list_members(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<MemberList>, AppError> {
    let mut conn = state.store.pool.acquire().await?;
    let members = members::list(&mut conn, &org).await?;
    Ok(Json(MemberList { members: members.into_iter().map(MemberBody::from).collect() }))
}

/// Changes a member's account type. The edges carry credential owners'
/// account types, so a change is pushed to them; the same type again is a
/// no-op (no audit entry, no push).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{email}", tag = "members",
    params(("org" = String, Path, description = "The org slug."),
           ("email" = String, Path, description = "The member's email address.")),
    request_body = MemberPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The member with the new account type.", body = MemberBody),
        (status = 409, description = "`last_admin`: it would demote the org's last active admin.", body = ErrorBody),
    ))]
pub async fn update_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
    ApiJson(patch): ApiJson<MemberPatch>,
) -> Result<Json<MemberBody>, AppError> {
    let email = member_email(&email)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let (member, from) = change.set_account_type(&email, patch.account_type).await?;
    if let Some(from) = from {
        change.commit(Event::MemberTypeChanged { email, from, to: patch.account_type }).await?;
    }
    Ok(Json(member.into()))
}

/// Deactivates a member: their tokens stop working at once and the
/// credentials they own are refused (status `owner_inactive`).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/deactivate", tag = "members",
    params(("org" = String, Path, description = "The org slug."),
           ("email" = String, Path, description = "The member's email address.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deactivated (again: unchanged).", body = MemberBody),
        (status = 409, description = "`last_admin`: the org's last active admin.", body = ErrorBody),
    ))]
pub async fn deactivate_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
) -> Result<Json<MemberBody>, AppError> {
    let email = member_email(&email)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let (member, deactivated) = change.deactivate_member(&email).await?;
    if deactivated {
        change.commit(Event::MemberDeactivated { email }).await?;
    }
    Ok(Json(member.into()))
}

/// Whether `caller` may see and revoke `email`'s tokens: an admin, or the member themself.
fn may_manage_tokens_of(caller: &Caller, email: &Email) -> Result<(), AppError> {
    if caller.email == *email || caller.account_type == AccountType::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Issues an API token to the caller themself (for automation, or to
/// rotate), living `expires_in_s` (the server's default when absent). A
/// token is issued only to its own member: for anyone else, even as an
/// admin, 403 `own_tokens_only` (a new member gets an invitation instead).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/tokens", tag = "members",
    params(("org" = String, Path, description = "The org slug."),
           ("email" = String, Path, description = "The caller's own email address.")),
    request_body(content = Option<NewTokenBody>, description = "Optional: the token's lifetime."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A new API token, shown this once.", body = IssuedToken),
        (status = 403, description = "`own_tokens_only`: the email is not the caller's.", body = ErrorBody)))]
pub async fn issue_token(
    caller: OrgMember,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
    MaybeJson(body): MaybeJson,
) -> Result<(StatusCode, Json<IssuedToken>), AppError> {
    let email = member_email(&email)?;
    // An API access token must not outlive itself as a member token.
    caller.require_member_token()?;
    if caller.email != email {
        return Err(AppError::OwnTokensOnly);
    }
    let admin = caller;
    let lifetime = state.tokens.lifetime(body.as_ref())?;
    let (token, hash) = new_member_token()?;
    let id = random_id()?;
    let at = now();
    let expires_at = at + lifetime;
    let mut change = state.store.change_by(&org, &admin).await?;
    change.issue_token(&email, &tokens::NewToken { id: &id, hash: &hash, expires_at }, at).await?;
    change.commit(Event::TokenIssued { email: email.clone(), token_id: id.clone() }).await?;
    Ok((StatusCode::CREATED, Json(IssuedToken { id, email, token, expires_at })))
}

/// A member's API tokens, newest first (never a token): for an admin, or the member themself.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members/{email}/tokens", tag = "members",
    params(("org" = String, Path, description = "The org slug."),
           ("email" = String, Path, description = "The member's email address.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The member's tokens, newest first.", body = TokenList)))]
pub async fn list_tokens(
    caller: OrgMember,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
) -> Result<Json<TokenList>, AppError> {
    let email = member_email(&email)?;
    may_manage_tokens_of(&caller, &email)?;
    let mut conn = state.store.pool.acquire().await?;
    if !tokens::member_exists(&mut conn, &org, &email).await? {
        return Err(AppError::NotFound("member"));
    }
    let tokens = tokens::list(&mut conn, &org, &email).await?;
    Ok(Json(TokenList { tokens: tokens.into_iter().map(TokenBody::from).collect() }))
}

/// Revokes one member token (idempotent: a revoked token answers 200
/// again): an admin may revoke anyone's, a member their own.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/tokens/{token_id}/revoke", tag = "members",
    params(("org" = String, Path, description = "The org slug."),
           ("email" = String, Path, description = "The member's email address."),
           ("token_id" = String, Path, description = "The token's ID (32 hex characters).")),
    security(("bearer" = [])),
    responses((status = 200, description = "Revoked (idempotent).", body = TokenBody)))]
pub async fn revoke_token(
    admin: OrgMember,
    State(state): State<AppState>,
    Path((org, email, token_id)): Path<(String, String, String)>,
) -> Result<Json<TokenBody>, AppError> {
    let email = member_email(&email)?;
    may_manage_tokens_of(&admin, &email)?;
    if token_id.len() != 32 || !token_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound("token"));
    }
    let mut change = state.store.change_by(&org, &admin).await?;
    let (token, revoked) = change.revoke_token(&email, &token_id, now()).await?;
    if revoked {
        change.commit(Event::TokenRevoked { email, token_id }).await?;
    }
    Ok(Json(token.into()))
}

/// A new invitation: its code is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedInvitation {
    /// The invitation's ID (in the audit log).
    pub id: String,
    /// The member it lets in.
    pub email: Email,
    /// `egi_` and 64 hex characters: the member exchanges it once, at `POST /api/v1/invitations/redeem`,
    /// for a token of their own.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub code: zeroize::Zeroizing<String>,
    /// Until when it can be redeemed (Unix seconds; 72 hours).
    pub expires_at: i64,
}

/// Gives a member without a live token (a new member, or one whose tokens
/// expired or were revoked) a one-time invitation code, valid 72 hours; an
/// earlier unredeemed one ends. The member redeems it for a token of their
/// own, which the admin never sees.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{email}/invitations", tag = "members",
    params(("org" = String, Path, description = "The org slug."),
           ("email" = String, Path, description = "An active member's email address.")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The invitation, its code shown this once.", body = IssuedInvitation),
        (status = 409, description = "`member_has_token`: the member holds a live token.", body = ErrorBody)))]
pub async fn invite_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
) -> Result<(StatusCode, Json<IssuedInvitation>), AppError> {
    admin.require_member_token()?;
    let email = member_email(&email)?;
    let (code, hash) = super::super::auth::new_invitation_code()?;
    let id = random_id()?;
    let at = now();
    let expires_at = at + super::super::auth::INVITATION_TTL_S;
    let mut change = state.store.change_by(&org, &admin).await?;
    change.invite(&email, (&id, &hash), (at, expires_at), true).await?;
    change.commit(Event::MemberInvited { email: email.clone(), invitation_id: id.clone() }).await?;
    Ok((StatusCode::CREATED, Json(IssuedInvitation { id, email, code, expires_at })))
}

/// `POST /api/v1/invitations/redeem`.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct RedeemBody {
    /// The invitation code (`egi_…`).
    pub code: String,
    /// Seconds the new token lives (as `POST …/tokens`); absent or null: the server's default.
    pub expires_in_s: Option<i64>,
}

/// Exchanges an invitation code, once, for a member token of the invited
/// member's own. No bearer token: the code is the credential. An unknown,
/// used or expired code is 401 `invitation_invalid` and counts as a failed
/// authentication of the address (429 with `retry-after` in back-off).
#[utoipa::path(post, path = "/api/v1/invitations/redeem", tag = "members",
    request_body = RedeemBody,
    responses(
        (status = 201, description = "A new API token of the invited member, shown this once.", body = IssuedToken),
        (status = 401, description = "`invitation_invalid`: unknown, used or expired code.", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address.", body = ErrorBody)))]
pub async fn redeem_invitation(
    super::super::ClientAddr(addr): super::super::ClientAddr,
    State(state): State<AppState>,
    MaybeJson(body): MaybeJson,
) -> Result<(StatusCode, Json<IssuedToken>), AppError> {
    let Some(mut body) = body else { return Err(AppError::invalid("code", "code is required")) };
    let code = match body.remove("code") {
        Some(serde_json::Value::String(code)) => zeroize::Zeroizing::new(code),
        Some(_) => return Err(AppError::invalid("code", "code must be an invitation code (egi_…)")),
        None => return Err(AppError::invalid("code", "code is required")),
    };
    let lifetime = state.tokens.lifetime(Some(&body))?;
    let in_backoff = state.limiter.backoff(addr).is_some();
    let refuse = || super::super::auth::failed(&state, addr, in_backoff, AppError::InvitationInvalid);
    if !super::super::auth::is_invitation_code(&code) {
        return Err(refuse());
    }
    let at = now();
    let hash = super::super::auth::token_hash(&code);
    let mut conn = state.store.pool.acquire().await?;
    let Some(invitation) = crate::store::invitations::find(&mut conn, &hash, at).await? else {
        return Err(refuse());
    };
    drop(conn);
    let (token, token_hash) = new_member_token()?;
    let id = random_id()?;
    let expires_at = at + lifetime;
    let origin = crate::store::Origin { token_id: id.clone(), address: addr.to_string() };
    let mut change = state.store.change_from(&invitation.org, invitation.email.as_str(), origin).await?;
    if change.redeem_invitation(&invitation.id, at).await.is_err() {
        return Err(refuse());
    }
    // A member deactivated since the invitation: the invitation is void.
    change
        .issue_token(&invitation.email, &tokens::NewToken { id: &id, hash: &token_hash, expires_at }, at)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => refuse(),
            e => e.into(),
        })?;
    let email = invitation.email;
    change
        .commit(Event::InvitationRedeemed { email: email.clone(), invitation_id: invitation.id, token_id: id.clone() })
        .await?;
    Ok((StatusCode::CREATED, Json(IssuedToken { id, email, token, expires_at })))
}
