//! API access tokens: what the OAuth client-credentials grant issues to a
//! credential with the `api` privilege (architecture.md §7). Stored only as
//! their SHA-256, with the credential, the secret generation that
//! authenticated the grant, the owner, and the expiry. Whether one still
//! works is decided at every request by one join ([`authenticate`]): the
//! token unrevoked and unexpired, the credential unrevoked and still holding
//! the `api` privilege, the generation still live, the owner active.

use embedgate_core::rules::{MemberStatus, Privileges};
use embedgate_core::{ClientId, Privilege};
use sqlx::{AnyConnection, Row};

use super::members::Member;
use super::{stored, Change, StoreError};

/// How long after its expiry an access token's row is kept (a day): then the
/// next grant of its credential deletes it.
pub const PRUNE_AFTER_S: i64 = 86_400;

/// An access token about to be stored (never the token: its hash).
#[derive(Debug, Clone, Copy)]
pub struct NewApiToken<'a> {
    /// Its ID (32 hex characters): in the audit log, never the token.
    pub id: &'a str,
    /// Its SHA-256, hex.
    pub hash: &'a str,
    /// The credential it acts for.
    pub client_id: &'a ClientId,
    /// The secret generation that authenticated the grant.
    pub generation: u32,
    /// The credential's owner (whom it acts as).
    pub owner: &'a str,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
}

/// What a presented access token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Presented {
    /// No access token hashes to this.
    Unknown,
    /// One of ours that no longer works: revoked, its credential revoked,
    /// deleted or without the `api` privilege, its secret generation
    /// retired, or its owner deactivated.
    Refused,
    /// One of ours, past its expiry.
    Expired,
    /// A live token: its owner (as they are now), the token's ID, the credential.
    Valid(Member, String, ClientId),
}

/// What the access token that hashes to `hash` is at `now`.
pub async fn authenticate(conn: &mut AnyConnection, hash: &str, now: i64) -> Result<Presented, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT t.id AS token_id, t.client_id, t.generation, t.revoked_at, t.expires_at, \
         c.revoked_at AS credential_revoked_at, c.current_generation, c.previous_generation, c.privileges, \
         m.org, m.email, m.account_type, m.status, m.created_at, m.version \
         FROM api_tokens t \
         JOIN credentials c ON c.org = t.org AND c.client_id = t.client_id AND c.owner_email = t.owner_email \
         JOIN members m ON m.org = c.org AND m.email = c.owner_email \
         WHERE t.token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(&mut *conn)
    .await?
    else {
        // A token whose credential was deleted is as dead as an unknown one.
        return Ok(Presented::Unknown);
    };
    let member = Member::from_row(&row)?;
    let generation: i64 = row.try_get("generation")?;
    let current: i64 = row.try_get("current_generation")?;
    let previous: Option<i64> = row.try_get("previous_generation")?;
    let privileges: Privileges =
        stored("credentials.privileges", serde_json::from_str(&row.try_get::<String, _>("privileges")?))?;
    let dead = row.try_get::<Option<i64>, _>("revoked_at")?.is_some()
        || row.try_get::<Option<i64>, _>("credential_revoked_at")?.is_some()
        || (generation != current && previous != Some(generation))
        || !privileges.contains(Privilege::Api)
        || member.status != MemberStatus::Active;
    let expires_at: i64 = row.try_get("expires_at")?;
    Ok(if dead {
        Presented::Refused
    } else if now >= expires_at {
        Presented::Expired
    } else {
        let client_id = stored("api_tokens.client_id", row.try_get::<String, _>("client_id")?.parse())?;
        Presented::Valid(member, row.try_get("token_id")?, client_id)
    })
}

/// The ID of `client_id`'s unrevoked access token that hashes to `hash`, if any.
pub async fn find_unrevoked(
    conn: &mut AnyConnection,
    client_id: &ClientId,
    hash: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM api_tokens WHERE token_hash = $1 AND client_id = $2 AND revoked_at IS NULL")
        .bind(hash)
        .bind(client_id.as_str())
        .fetch_optional(conn)
        .await?)
}

impl Change {
    /// Stores a new access token of a credential of this change's org, and
    /// forgets that credential's tokens expired for over a day (so a job that
    /// runs the grant every hour keeps a bounded number of rows; the audit
    /// log keeps their IDs).
    pub async fn issue_api_token(&mut self, token: &NewApiToken<'_>, at: i64) -> Result<(), StoreError> {
        let org = self.org().to_owned();
        sqlx::query("DELETE FROM api_tokens WHERE org = $1 AND client_id = $2 AND expires_at < $3")
            .bind(&org)
            .bind(token.client_id.as_str())
            .bind(at - PRUNE_AFTER_S)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, org, client_id, generation, owner_email, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.id)
        .bind(&org)
        .bind(token.client_id.as_str())
        .bind(i64::from(token.generation))
        .bind(token.owner)
        .bind(token.hash)
        .bind(at)
        .bind(token.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Revokes this org's access token `id` of `client_id`; `false` when it already was.
    pub async fn revoke_api_token(&mut self, client_id: &ClientId, id: &str, at: i64) -> Result<bool, StoreError> {
        let org = self.org().to_owned();
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND org = $3 AND client_id = $4 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .bind(&org)
        .bind(client_id.as_str())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
