//! Orgs: created once, by `embedgate init`, with their first admin; their
//! one setting is where their replay guards live at the edge.

use embedgate_core::rules::Email;
use embedgate_core::{OrgSlug, Region};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::change::Touched;
use super::{is_unique_violation, stored, Change, StoreError};

impl Change {
    /// Creates this change's org, with its own key material wrapped under
    /// the current master key, and `admin` as its first (active) admin
    /// holding `token` ([`StoreError::OrgExists`] if the org is there already).
    pub async fn create_org(
        &mut self,
        keys: &super::keys::Keys,
        admin: &Email,
        token: &super::tokens::NewToken<'_>,
        at: i64,
    ) -> Result<(), StoreError> {
        let org = self.org().to_owned();
        let inserted = sqlx::query("INSERT INTO orgs (slug, created_at) VALUES ($1, $2)")
            .bind(&org)
            .bind(at)
            .execute(self.conn())
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::OrgExists),
            other => {
                other?;
            }
        }
        self.set_first_org_key(keys).await?;
        sqlx::query(
            "INSERT INTO members (org, email, account_type, status, created_at) VALUES ($1, $2, 'admin', 'active', $3)",
        )
        .bind(&org)
        .bind(admin.as_str())
        .bind(at)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO member_tokens (id, org, email, token_hash, created_at, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $3, $6)",
        )
        .bind(token.id)
        .bind(&org)
        .bind(admin.as_str())
        .bind(token.hash)
        .bind(at)
        .bind(token.expires_at)
        .execute(self.conn())
        .await?;
        self.touch(Touched::Org);
        Ok(())
    }
}

/// An org as the edges need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Its slug.
    pub slug: OrgSlug,
    /// Where its replay guards live at the edge (`None`: the edge's first region).
    pub home_region: Option<Region>,
}

impl Org {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            slug: stored("orgs.slug", row.try_get::<String, _>("slug")?.parse())?,
            home_region: row
                .try_get::<Option<String>, _>("home_region")?
                .map(|r| stored("orgs.home_region", r.parse()))
                .transpose()?,
        })
    }
}

/// One org.
pub async fn get(conn: &mut AnyConnection, org: &str) -> Result<Option<Org>, StoreError> {
    sqlx::query("SELECT slug, home_region FROM orgs WHERE slug = $1")
        .bind(org)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(Org::from_row)
        .transpose()
}

/// At most `limit` orgs after `after`, by slug (a full state's order).
pub async fn page(conn: &mut AnyConnection, after: &str, limit: i64) -> Result<Vec<Org>, StoreError> {
    sqlx::query("SELECT slug, home_region FROM orgs WHERE slug > $1 ORDER BY slug LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(Org::from_row)
        .collect()
}

impl Change {
    /// Sets where this change's org's replay guards live at the edge;
    /// `false` when it already was there.
    pub async fn set_home_region(&mut self, region: Region) -> Result<bool, StoreError> {
        let org = self.org().to_owned();
        let current = get(self.conn(), &org).await?.ok_or(StoreError::NotFound("org"))?;
        if current.home_region == Some(region) {
            return Ok(false);
        }
        sqlx::query("UPDATE orgs SET home_region = $1 WHERE slug = $2")
            .bind(region.as_str())
            .bind(&org)
            .execute(self.conn())
            .await?;
        self.touch(Touched::Org);
        Ok(true)
    }
}

/// The state version of `org`'s latest change the edges see: the newest of
/// its records' versions and its change-log rows (0 when none).
pub async fn latest_version(conn: &mut sqlx::AnyConnection, org: &str) -> Result<u64, StoreError> {
    let v: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(v) FROM (SELECT version AS v FROM orgs WHERE slug = $1 \
         UNION ALL SELECT MAX(version) FROM credentials WHERE org = $1 \
         UNION ALL SELECT MAX(version) FROM members WHERE org = $1 \
         UNION ALL SELECT MAX(version) FROM changes WHERE org = $1) AS versions",
    )
    .bind(org)
    .fetch_one(conn)
    .await?;
    Ok(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}
