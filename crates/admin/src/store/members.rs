//! Members of an org: their rows, reads, and the changes that add, retype
//! or deactivate them.

use embedgate_core::rules::{Email, MemberStatus};
use embedgate_core::{AccountType, EdgeOwner};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::change::Touched;
use super::{is_unique_violation, stored, Change, StoreError};

/// A member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Their org.
    pub org: String,
    /// Their email (lower-cased).
    pub email: Email,
    /// What they may do.
    pub account_type: AccountType,
    /// Whether they may act.
    pub status: MemberStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// The state version of their last change (0: never changed since the log began).
    pub version: u64,
}

const COLUMNS: &str = "org, email, account_type, status, created_at, version";

impl Member {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let status: String = row.try_get("status")?;
        Ok(Self {
            org: row.try_get("org")?,
            email: stored("members.email", Email::parse(&row.try_get::<String, _>("email")?))?,
            account_type: stored("members.account_type", row.try_get::<String, _>("account_type")?.parse())?,
            status: MemberStatus::from_name(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("members.status: {status:?}")))?,
            created_at: row.try_get("created_at")?,
            version: stored("members.version", u64::try_from(row.try_get::<i64, _>("version")?))?,
        })
    }

    /// Their standing as the edges hold it.
    pub fn edge_owner(&self) -> EdgeOwner {
        EdgeOwner {
            email: self.email.as_str().to_owned(),
            account_type: self.account_type,
            status: self.status,
            // Never 0 at the edge: a member unchanged since the log began is as old as can be.
            version: self.version.max(1),
        }
    }
}

/// The org's members, by email.
pub async fn list(conn: &mut AnyConnection, org: &str) -> Result<Vec<Member>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM members WHERE org = $1 ORDER BY email"))
        .bind(org)
        .fetch_all(conn)
        .await?
        .iter()
        .map(Member::from_row)
        .collect()
}

/// At most `limit` members of the org after `after`, by email (a full state's pages).
pub async fn page(conn: &mut AnyConnection, org: &str, after: &str, limit: i64) -> Result<Vec<Member>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM members WHERE org = $1 AND email > $2 ORDER BY email LIMIT $3"))
        .bind(org)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(Member::from_row)
        .collect()
}

/// One member, if the org has them.
pub async fn get(conn: &mut AnyConnection, org: &str, email: &Email) -> Result<Option<Member>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM members WHERE org = $1 AND email = $2"))
        .bind(org)
        .bind(email.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(Member::from_row)
        .transpose()
}

/// Whether `email` is an active member of `org` (who may own a credential).
pub async fn is_active(conn: &mut AnyConnection, org: &str, email: &Email) -> Result<bool, StoreError> {
    Ok(get(conn, org, email).await?.is_some_and(|m| m.status == MemberStatus::Active))
}

async fn active_admins(conn: &mut AnyConnection, org: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM members WHERE org = $1 AND account_type = 'admin' AND status = 'active'",
    )
    .bind(org)
    .fetch_one(conn)
    .await?)
}

impl Change {
    /// Adds an active member to this change's org ([`StoreError::MemberExists`] if there is one).
    pub async fn add_member(
        &mut self,
        email: &Email,
        account_type: AccountType,
        at: i64,
    ) -> Result<Member, StoreError> {
        let org = self.org().to_owned();
        let inserted = sqlx::query(
            "INSERT INTO members (org, email, account_type, status, created_at) VALUES ($1, $2, $3, 'active', $4)",
        )
        .bind(&org)
        .bind(email.as_str())
        .bind(account_type.as_str())
        .bind(at)
        .execute(self.conn())
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => Err(StoreError::MemberExists),
            Err(e) => Err(e.into()),
            Ok(_) => get(self.conn(), &org, email).await?.ok_or(StoreError::NotFound("member")),
        }
    }

    /// Changes a member's account type; `None` when it already is `to`
    /// (nothing to record). The org must keep an active admin.
    pub async fn set_account_type(
        &mut self,
        email: &Email,
        to: AccountType,
    ) -> Result<(Member, Option<AccountType>), StoreError> {
        let org = self.org().to_owned();
        let member = get(self.conn(), &org, email).await?.ok_or(StoreError::NotFound("member"))?;
        if member.account_type == to {
            return Ok((member, None));
        }
        sqlx::query("UPDATE members SET account_type = $1 WHERE org = $2 AND email = $3")
            .bind(to.as_str())
            .bind(&org)
            .bind(email.as_str())
            .execute(self.conn())
            .await?;
        if active_admins(self.conn(), &org).await? == 0 {
            return Err(StoreError::LastAdmin);
        }
        self.touch(Touched::Member(email.as_str().to_owned()));
        Ok((Member { account_type: to, ..member.clone() }, Some(member.account_type)))
    }

    /// Deactivates a member: their tokens stop working and the credentials
    /// they own are refused. `false` when they already were deactivated.
    /// The org must keep an active admin.
    pub async fn deactivate_member(&mut self, email: &Email) -> Result<(Member, bool), StoreError> {
        let org = self.org().to_owned();
        let done = sqlx::query(
            "UPDATE members SET status = 'deactivated' WHERE org = $1 AND email = $2 AND status = 'active'",
        )
        .bind(&org)
        .bind(email.as_str())
        .execute(self.conn())
        .await?;
        let member = get(self.conn(), &org, email).await?.ok_or(StoreError::NotFound("member"))?;
        if done.rows_affected() == 0 {
            return Ok((member, false));
        }
        if active_admins(self.conn(), &org).await? == 0 {
            return Err(StoreError::LastAdmin);
        }
        self.touch(Touched::Member(email.as_str().to_owned()));
        Ok((member, true))
    }
}
