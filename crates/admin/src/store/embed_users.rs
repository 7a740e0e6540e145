//! Embed users (issue 15): who loaded embeds with which credential, from the
//! edges' reports (architecture.md §6, "Usage"). Not a [`super::Change`]: no
//! edge reads it and no member acted, so it is neither audited nor versioned.

use std::collections::BTreeMap;

use embedgate_core::usage::EmbedUse;
use embedgate_core::Region;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};

/// One identity's use of one credential, as the admin holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedUser {
    /// The credential.
    pub client_id: String,
    /// The embed user's canonical email.
    pub email: String,
    /// The account type of its latest load, if the token named one.
    pub account_type: Option<String>,
    /// The teams of its latest load.
    pub teams: Vec<String>,
    /// First load seen (Unix seconds, edge clock).
    pub first_seen: i64,
    /// Last load seen.
    pub last_seen: i64,
    /// Loads over every edge and region.
    pub loads: i64,
}

/// Where a page starts: after this row in the order (last_seen desc, client_id, email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The previous page's last row's last_seen.
    pub last_seen: i64,
    /// Its credential.
    pub client_id: String,
    /// Its email.
    pub email: String,
}

/// Records what an edge (`edge`, its URL without userinfo) reported, per
/// region: running totals, of which only the growth since the source's last
/// report is added (a lower total means the region lost its storage: all of
/// it is new). Rows of credentials the admin does not hold are ignored.
///
/// One write transaction ([`Store::write`]): two edges' reports arriving
/// together queue instead of failing with `database is locked`.
pub async fn record(store: &Store, edge: &str, users: &BTreeMap<Region, Vec<EmbedUse>>) -> Result<(), StoreError> {
    if users.values().all(Vec::is_empty) {
        return Ok(());
    }
    let (mut tx, _gate) = store.write().await?;
    for (region, rows) in users {
        let source = format!("{edge}#{region}");
        for row in rows {
            let row = row.clone().bounded();
            let org: Option<String> = sqlx::query_scalar("SELECT org FROM credentials WHERE client_id = $1")
                .bind(&row.client_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(org) = org else { continue };
            let total = i64::try_from(row.loads).unwrap_or(i64::MAX);
            let before: Option<i64> = sqlx::query_scalar(
                "SELECT loads FROM embed_user_sources WHERE source = $1 AND client_id = $2 AND email = $3",
            )
            .bind(&source)
            .bind(&row.client_id)
            .bind(&row.sub)
            .fetch_optional(&mut *tx)
            .await?;
            let grown = match before {
                Some(b) if b <= total => total - b,
                _ => total,
            };
            sqlx::query(
                "INSERT INTO embed_user_sources (source, client_id, email, loads) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (source, client_id, email) DO UPDATE SET loads = excluded.loads",
            )
            .bind(&source)
            .bind(&row.client_id)
            .bind(&row.sub)
            .bind(total)
            .execute(&mut *tx)
            .await?;
            let teams = serde_json::to_string(&row.teams).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO embed_users (org, client_id, email, account_type, teams, first_seen, last_seen, loads) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (client_id, email) DO UPDATE SET \
                 account_type = CASE WHEN excluded.last_seen >= embed_users.last_seen \
                   THEN excluded.account_type ELSE embed_users.account_type END, \
                 teams = CASE WHEN excluded.last_seen >= embed_users.last_seen \
                   THEN excluded.teams ELSE embed_users.teams END, \
                 first_seen = CASE WHEN excluded.first_seen < embed_users.first_seen \
                   THEN excluded.first_seen ELSE embed_users.first_seen END, \
                 last_seen = CASE WHEN excluded.last_seen > embed_users.last_seen \
                   THEN excluded.last_seen ELSE embed_users.last_seen END, \
                 loads = embed_users.loads + excluded.loads",
            )
            .bind(&org)
            .bind(&row.client_id)
            .bind(&row.sub)
            .bind(row.account_type.map(|a| a.as_str().to_owned()))
            .bind(teams)
            .bind(row.first_seen)
            .bind(row.last_seen)
            .bind(grown)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Forgets a (deleted) credential's embed users.
pub async fn forget(conn: &mut AnyConnection, client_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM embed_users WHERE client_id = $1").bind(client_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM embed_user_sources WHERE client_id = $1").bind(client_id).execute(&mut *conn).await?;
    Ok(())
}

/// Up to `limit` of `org`'s embed users (of `client_id` alone when given),
/// latest last seen first, after `after`.
pub async fn page(
    conn: &mut AnyConnection,
    org: &str,
    client_id: Option<&str>,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<EmbedUser>, StoreError> {
    let (seen, cid, email) =
        after.map_or((i64::MAX, "", ""), |c| (c.last_seen, c.client_id.as_str(), c.email.as_str()));
    let rows = sqlx::query(
        "SELECT client_id, email, account_type, teams, first_seen, last_seen, loads FROM embed_users \
         WHERE org = $1 AND ($2 = '' OR client_id = $2) \
         AND (last_seen < $3 OR (last_seen = $3 AND (client_id > $4 OR (client_id = $4 AND email > $5)))) \
         ORDER BY last_seen DESC, client_id, email LIMIT $6",
    )
    .bind(org)
    .bind(client_id.unwrap_or(""))
    .bind(seen)
    .bind(cid)
    .bind(email)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let teams: String = r.try_get("teams")?;
            Ok(EmbedUser {
                client_id: r.try_get("client_id")?,
                email: r.try_get("email")?,
                account_type: r.try_get("account_type")?,
                teams: serde_json::from_str(&teams).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                first_seen: r.try_get("first_seen")?,
                last_seen: r.try_get("last_seen")?,
                loads: r.try_get("loads")?,
            })
        })
        .collect()
}
