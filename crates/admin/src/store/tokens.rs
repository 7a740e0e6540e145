//! Member API tokens: stored only as their SHA-256 (the token itself is
//! shown once, at issue), listed by ID, revoked by ID.

use embedgate_core::rules::Email;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::members::{self, Member};
use super::{stored, Change, StoreError};

/// A member token as listed (never the token or its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its ID (32 hex characters).
    pub id: String,
    /// Whose it is.
    pub email: Email,
    /// Unix seconds.
    pub created_at: i64,
    /// Who issued it.
    pub created_by: String,
    /// When it was revoked (Unix seconds).
    pub revoked_at: Option<i64>,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// A token about to be stored: its ID, its hash, its expiry (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// Its ID (32 hex characters).
    pub id: &'a str,
    /// Its SHA-256, hex.
    pub hash: &'a str,
    /// When it stops working.
    pub expires_at: i64,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Presented {
    /// No token hashes to this.
    Unknown,
    /// A token of ours, but revoked, or its member deactivated.
    Refused,
    /// A token of ours, past its expiry.
    Expired,
    /// A live token of an active member (and the token's ID).
    Valid(Member, String),
}

impl TokenInfo {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.try_get("id")?,
            email: stored("member_tokens.email", Email::parse(&row.try_get::<String, _>("email")?))?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            revoked_at: row.try_get("revoked_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

const COLUMNS: &str = "id, email, created_at, created_by, revoked_at, expires_at";

/// A member's tokens, newest first.
pub async fn list(conn: &mut AnyConnection, org: &str, email: &Email) -> Result<Vec<TokenInfo>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM member_tokens WHERE org = $1 AND email = $2 ORDER BY created_at DESC, id"
    ))
    .bind(org)
    .bind(email.as_str())
    .fetch_all(conn)
    .await?
    .iter()
    .map(TokenInfo::from_row)
    .collect()
}

/// What the token that hashes to `hash` is at `now`: valid only when it is
/// unrevoked, unexpired and its member active.
pub async fn authenticate(conn: &mut AnyConnection, hash: &str, now: i64) -> Result<Presented, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT m.org, m.email, m.account_type, m.status, m.created_at, m.version, \
         t.id AS token_id, t.revoked_at, t.expires_at \
         FROM member_tokens t JOIN members m ON m.org = t.org AND m.email = t.email WHERE t.token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(Presented::Unknown);
    };
    let member = Member::from_row(&row)?;
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    Ok(if revoked.is_some() || member.status != embedgate_core::rules::MemberStatus::Active {
        Presented::Refused
    } else if now >= expires_at {
        Presented::Expired
    } else {
        Presented::Valid(member, row.try_get("token_id")?)
    })
}

impl Change {
    /// Stores a new token for an active member of this change's org, issued
    /// by this change's actor.
    pub async fn issue_token(&mut self, email: &Email, token: &NewToken<'_>, at: i64) -> Result<(), StoreError> {
        let (org, actor) = (self.org().to_owned(), self.actor().to_owned());
        let inserted = sqlx::query(
            "INSERT INTO member_tokens (id, org, email, token_hash, created_at, created_by, expires_at) \
             SELECT $1, org, email, $2, $3, $4, $7 FROM members WHERE org = $5 AND email = $6 AND status = 'active'",
        )
        .bind(token.id)
        .bind(token.hash)
        .bind(at)
        .bind(&actor)
        .bind(&org)
        .bind(email.as_str())
        .bind(token.expires_at)
        .execute(self.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound("member"));
        }
        Ok(())
    }

    /// Revokes a member's token; `false` when it already was (revoking is idempotent).
    pub async fn revoke_token(&mut self, email: &Email, id: &str, at: i64) -> Result<(TokenInfo, bool), StoreError> {
        let org = self.org().to_owned();
        let done = sqlx::query(
            "UPDATE member_tokens SET revoked_at = $1 WHERE org = $2 AND email = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(&org)
        .bind(email.as_str())
        .bind(id)
        .execute(self.conn())
        .await?;
        let token =
            sqlx::query(&format!("SELECT {COLUMNS} FROM member_tokens WHERE org = $1 AND email = $2 AND id = $3"))
                .bind(&org)
                .bind(email.as_str())
                .bind(id)
                .fetch_optional(self.conn())
                .await?
                .as_ref()
                .map(TokenInfo::from_row)
                .transpose()?
                .ok_or(StoreError::NotFound("token"))?;
        Ok((token, done.rows_affected() == 1))
    }
}

/// Whether the org has this member at all (listing the tokens of nobody is a 404).
pub async fn member_exists(conn: &mut AnyConnection, org: &str, email: &Email) -> Result<bool, StoreError> {
    Ok(members::get(conn, org, email).await?.is_some())
}
