//! Invitations: one-time codes (stored only as their SHA-256) an admin
//! gives a member so that the member can issue their first token
//! themselves. Single use, short-lived, and only for a member without a
//! live token (an admin cannot use one to act as a member who is active).

use embedgate_core::rules::Email;
use sqlx::{AnyConnection, Row};

use super::{Change, StoreError};

/// An unredeemed invitation found by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Its ID (32 hex characters).
    pub id: String,
    /// The org.
    pub org: String,
    /// The member it lets in.
    pub email: Email,
}

/// The invitation whose code hashes to `hash`, if it is unredeemed and
/// unexpired at `now`.
pub async fn find(conn: &mut AnyConnection, hash: &str, now: i64) -> Result<Option<Invitation>, StoreError> {
    let row = sqlx::query(
        "SELECT id, org, email FROM member_invitations WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(Invitation {
            id: row.try_get("id")?,
            org: row.try_get("org")?,
            email: super::stored("member_invitations.email", Email::parse(&row.try_get::<String, _>("email")?))?,
        })
    })
    .transpose()
}

/// Whether the member holds a live token (unrevoked, unexpired at `now`).
pub async fn has_live_token(conn: &mut AnyConnection, org: &str, email: &Email, now: i64) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM member_tokens WHERE org = $1 AND email = $2 AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(org)
    .bind(email.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

impl Change {
    /// Stores an invitation (`hash` of its code) for an active member of
    /// this change's org, ending any earlier unredeemed one of theirs.
    /// With `only_without_token`, a member who holds a live token is
    /// refused ([`StoreError::MemberHasToken`]).
    pub async fn invite(
        &mut self,
        email: &Email,
        (id, hash): (&str, &str),
        (at, expires_at): (i64, i64),
        only_without_token: bool,
    ) -> Result<(), StoreError> {
        let (org, actor) = (self.org().to_owned(), self.actor().to_owned());
        if !super::members::is_active(self.conn(), &org, email).await? {
            return Err(StoreError::NotFound("member"));
        }
        if only_without_token && has_live_token(self.conn(), &org, email, at).await? {
            return Err(StoreError::MemberHasToken);
        }
        sqlx::query(
            "UPDATE member_invitations SET expires_at = $1 \
             WHERE org = $2 AND email = $3 AND redeemed_at IS NULL AND expires_at > $1",
        )
        .bind(at)
        .bind(&org)
        .bind(email.as_str())
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO member_invitations (id, org, email, code_hash, created_at, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&org)
        .bind(email.as_str())
        .bind(hash)
        .bind(at)
        .bind(&actor)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Marks the invitation `id` used at `at`; [`StoreError::NotFound`]
    /// when it was used (or expired) in the meantime.
    pub async fn redeem_invitation(&mut self, id: &str, at: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE member_invitations SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL AND expires_at > $1",
        )
        .bind(at)
        .bind(id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound("invitation"))
        }
    }
}
