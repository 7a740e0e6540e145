//! What the edges are pushed (architecture.md §6), read page by page so the
//! admin never holds the whole state: a **delta** (the records the change
//! log says changed after a version), or a **full state** (every org's
//! records, for an edge that is new, wiped, or behind the log's floor).
//!
//! Every record goes out as it is when read (with the version of its last
//! change), which is at least as new as the page's target version: the edge
//! applies a record only when newer, so pages can be read while changes go
//! on, without a consistent snapshot and without restarting.

use std::collections::BTreeMap;

use embedgate_core::{ClientId, Deleted, EdgeCredential, EdgeKey, EdgeOwner, OrgChanges, OrgSlug};
use sqlx::{AnyConnection, Row};

use super::change::{KIND_CREDENTIAL, KIND_ORG, KIND_OWNER};
use super::credentials::{self, Credential};
use super::keys::Keys;
use super::members::{self, Member};
use super::{orgs, stored, Store, StoreError};
use crate::server::now;

/// Beyond this many changed records a delta is not worth it: the edge gets
/// a full state instead.
pub const DELTA_MAX_RECORDS: i64 = 20_000;
/// Change-log rows read per query while filling a delta page.
const LOG_BATCH: i64 = 500;
/// Credentials read per query while filling a full-state page.
const FULL_BATCH: i64 = 500;
/// The most orgs one page holds. Each org in a message is one call to its
/// store in every region at the edge, so a page of many small orgs can take
/// longer to apply than the admin waits for the edge's answer (30 s) however
/// few bytes it has: on the 2-core development machine, pages of ~330 new
/// orgs took 20 s to over 30 s, and pages of ~1,450 one-credential orgs
/// timed out on every retry, so the edge never got a state
/// (`cargo xtask bench-edge --scale`).
pub const PAGE_MAX_ORGS: usize = 100;

/// The lowest version a delta can start from: below it the log was pruned.
pub async fn floor(store: &Store) -> Result<u64, StoreError> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'change_log_floor'")
        .fetch_optional(&store.pool)
        .await?;
    stored("settings.change_log_floor", text.unwrap_or_else(|| "0".into()).parse::<u64>())
}

/// Drops the change log's rows older than `before` (Unix seconds) and raises
/// the floor to the newest version dropped. Returns the floor.
pub async fn prune(store: &Store, before: i64) -> Result<u64, StoreError> {
    let mut change = store.change("", "embedgate-prune").await?;
    let conn = change.conn();
    let dropped: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM changes WHERE at < $1").bind(before).fetch_one(&mut *conn).await?;
    if let Some(top) = dropped {
        sqlx::query("DELETE FROM changes WHERE version <= $1").bind(top).execute(&mut *conn).await?;
        sqlx::query("UPDATE settings SET value = $1 WHERE name = 'change_log_floor' AND CAST(value AS BIGINT) < $2")
            .bind(top.to_string())
            .bind(top)
            .execute(&mut *conn)
            .await?;
    }
    change.commit_unaudited().await?;
    floor(store).await
}

/// How many records changed after `from` up to `to`, counted up to `cap`.
pub async fn delta_size(store: &Store, from: u64, to: u64, cap: i64) -> Result<i64, StoreError> {
    let (from, to) = (version(from)?, version(to)?);
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT org, kind, record FROM changes \
         WHERE version > $1 AND version <= $2 LIMIT $3) AS d",
    )
    .bind(from)
    .bind(to)
    .bind(cap)
    .fetch_one(&store.pool)
    .await?)
}

fn version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("version out of range".into()))
}

/// Where a delta's next page starts: after this change-log key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeltaCursor {
    org: String,
    kind: String,
    record: String,
}

/// A page being filled: orgs in order, with a byte count of what is in it.
#[derive(Debug, Default)]
struct Page {
    orgs: BTreeMap<String, OrgChanges>,
    bytes: usize,
}

impl Page {
    /// The org's part of the page; a new part counts its envelope.
    fn org(&mut self, slug: &OrgSlug) -> &mut OrgChanges {
        if !self.orgs.contains_key(slug.as_str()) {
            self.bytes += envelope_len(slug);
        }
        self.orgs.entry(slug.as_str().to_owned()).or_insert_with(|| OrgChanges::new(slug.clone()))
    }

    /// Adds `c` with its live secrets wrapped for the edge. A row whose
    /// secrets cannot be made is left out (logged); a key this admin cannot
    /// open fails the page (sending the org without its credentials would
    /// drop them at the edge).
    async fn add_credential(
        &mut self,
        conn: &mut AnyConnection,
        sealer: &ForEdge<'_>,
        slug: &OrgSlug,
        c: &Credential,
    ) -> Result<(), StoreError> {
        let secrets = match sealer.keys.edge_secrets(conn, c, sealer.edge).await {
            Ok(secrets) => secrets,
            Err(e @ StoreError::Corrupt(_)) => {
                skip(&e);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let record = c.edge_record(secrets);
        self.bytes += json_len(&record) + 1;
        self.org(slug).credentials.push(record);
        Ok(())
    }

    fn add_owner(&mut self, slug: &OrgSlug, owner: EdgeOwner) {
        let bytes = json_len(&owner) + 1;
        let org = self.org(slug);
        if !org.owners.iter().any(|o| o.email == owner.email) {
            org.owners.push(owner);
            self.bytes += bytes;
        }
    }

    /// Whether the page is done: `budget` bytes, or [`PAGE_MAX_ORGS`] orgs.
    fn is_full(&self, budget: usize) -> bool {
        self.bytes >= budget || self.orgs.len() >= PAGE_MAX_ORGS
    }

    fn into_orgs(self) -> Vec<OrgChanges> {
        self.orgs.into_values().collect()
    }
}

fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// The bytes an org's part of a message takes besides its records (its
/// slug, the empty lists, a home region, `complete`, the comma after it):
/// with many small orgs in a page these add up to more than the room left
/// under the message cap.
fn envelope_len(slug: &OrgSlug) -> usize {
    let mut empty = OrgChanges::new(slug.clone());
    empty.home_region = Some(embedgate_core::Region::Wnam);
    empty.complete = true;
    json_len(&empty) + 1
}

/// Logs a row that cannot go to the edges (it stays out: unknown there, so refused).
fn skip(e: &StoreError) {
    tracing::error!(error = %e, "a row cannot be exported to the edges; left out");
}

/// What wraps the live secrets in what is sent to an edge: the org keys
/// they derive from and the edge key they are wrapped under.
#[derive(Debug, Clone, Copy)]
pub struct ForEdge<'a> {
    /// The admin's master keys and org-key cache.
    pub keys: &'a Keys,
    /// The edge key (the current one).
    pub edge: &'a EdgeKey,
}

/// One page of the delta after `from` up to `to`, starting after `cursor`,
/// filled up to `budget` bytes of records: the orgs' changes, and the cursor
/// of the next page (`None`: this is the last).
pub async fn delta_page(
    store: &Store,
    sealer: &ForEdge<'_>,
    from: u64,
    to: u64,
    cursor: Option<&DeltaCursor>,
    budget: usize,
) -> Result<(Vec<OrgChanges>, Option<DeltaCursor>), StoreError> {
    let (from, to) = (version(from)?, version(to)?);
    let mut conn = store.pool.acquire().await?;
    let mut page = Page::default();
    let mut after = cursor.cloned().unwrap_or_default();
    loop {
        let rows = sqlx::query(
            "SELECT org, kind, record, MAX(version) AS version FROM changes \
             WHERE version > $1 AND version <= $2 AND (org, kind, record) > ($3, $4, $5) \
             GROUP BY org, kind, record ORDER BY org, kind, record LIMIT $6",
        )
        .bind(from)
        .bind(to)
        .bind(&after.org)
        .bind(&after.kind)
        .bind(&after.record)
        .bind(LOG_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        let exhausted = i64::try_from(rows.len()).unwrap_or(0) < LOG_BATCH;
        // Group this batch by org and kind, then load each group in one query.
        let mut keys: Vec<(String, String, String, i64)> = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push((row.try_get("org")?, row.try_get("kind")?, row.try_get("record")?, row.try_get("version")?));
        }
        let mut i = 0;
        while i < keys.len() {
            let (org, kind) = (keys[i].0.clone(), keys[i].1.clone());
            let mut j = i;
            while j < keys.len() && keys[j].0 == org && keys[j].1 == kind {
                j += 1;
            }
            // The group's records in one query, then added one by one under the budget.
            let group = &keys[i..j];
            let taken = add_group(&mut conn, sealer, &mut page, &org, &kind, group, budget).await?;
            let last = &group[taken - 1];
            after = DeltaCursor { org: last.0.clone(), kind: last.1.clone(), record: last.2.clone() };
            if page.is_full(budget) {
                // More may follow: the next page starts after the last record taken.
                let more = taken < group.len() || j < keys.len() || !exhausted;
                return Ok((page.into_orgs(), more.then_some(after)));
            }
            i = j;
        }
        if exhausted {
            return Ok((page.into_orgs(), None));
        }
    }
}

/// Loads one (org, kind) group of changed records into `page`, in key
/// order, until the page reaches `budget`; returns how many keys it took
/// (at least one).
async fn add_group(
    conn: &mut AnyConnection,
    sealer: &ForEdge<'_>,
    page: &mut Page,
    org: &str,
    kind: &str,
    group: &[(String, String, String, i64)],
    budget: usize,
) -> Result<usize, StoreError> {
    let slug: OrgSlug = stored("changes.org", org.parse())?;
    match kind {
        KIND_ORG => {
            if let Some(o) = orgs::get(conn, org).await? {
                page.org(&slug).home_region = o.home_region;
            }
            Ok(group.len())
        }
        KIND_CREDENTIAL => {
            let ids: Vec<&str> = group.iter().map(|k| k.2.as_str()).collect();
            let mut found: BTreeMap<String, Credential> = BTreeMap::new();
            for c in credentials::some(conn, org, &ids).await? {
                match c {
                    Ok(c) => {
                        found.insert(c.client_id.as_str().to_owned(), c);
                    }
                    Err(e) => skip(&e),
                }
            }
            for (taken, (_, _, id, at)) in group.iter().enumerate() {
                match found.get(id) {
                    Some(c) => {
                        if let Some(owner) = members::get(conn, org, &c.owner).await? {
                            page.add_owner(&slug, owner.edge_owner());
                        }
                        page.add_credential(conn, sealer, &slug, c).await?;
                    }
                    // Changed and gone: deleted, as of the change that deleted it.
                    None => {
                        if let (Ok(client_id), Ok(version)) = (id.parse::<ClientId>(), u64::try_from(*at)) {
                            page.bytes += 64;
                            page.org(&slug).deleted.push(Deleted { client_id, version });
                        }
                    }
                }
                if page.bytes >= budget {
                    return Ok(taken + 1);
                }
            }
            Ok(group.len())
        }
        KIND_OWNER => {
            for (taken, (_, _, email, _)) in group.iter().enumerate() {
                if let Ok(email) = embedgate_core::rules::Email::parse(email) {
                    match members::get(conn, org, &email).await {
                        Ok(Some(m)) => page.add_owner(&slug, m.edge_owner()),
                        Ok(None) => {}
                        Err(e) => skip(&e),
                    }
                }
                if page.bytes >= budget {
                    return Ok(taken + 1);
                }
            }
            Ok(group.len())
        }
        other => {
            tracing::error!(kind = other, "unknown change-log kind; left out");
            Ok(group.len())
        }
    }
}

/// Where a full state's next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FullCursor {
    /// The org it is in (empty: before the first).
    org: String,
    /// The last owner sent of that org (`None`: its owners are all sent).
    owner_after: Option<String>,
    /// The last client ID sent of that org (`None`: its credentials have not started).
    after: Option<String>,
}

impl FullCursor {
    fn start_of(org: &OrgSlug) -> Self {
        Self { org: org.as_str().to_owned(), owner_after: Some(String::new()), after: None }
    }
}

/// One page of the full state, starting at `cursor`, filled up to `budget`
/// bytes: orgs in order, each org's owners and home region on its first
/// page, its credentials in client ID order, `complete` on the page with
/// its last ones. Revoked credentials past their tombstone are left out
/// (no token of theirs can be accepted any more). Returns the orgs and the
/// next page's cursor (`None`: this is the last).
pub async fn full_page(
    store: &Store,
    sealer: &ForEdge<'_>,
    cursor: &FullCursor,
    budget: usize,
) -> Result<(Vec<OrgChanges>, Option<FullCursor>), StoreError> {
    let now = now();
    let mut conn = store.pool.acquire().await?;
    let mut page = Page::default();
    let mut at = cursor.clone();
    if at.org.is_empty() {
        match orgs::page(&mut conn, "", 1).await?.into_iter().next() {
            Some(first) => at = FullCursor::start_of(&first.slug),
            None => return Ok((Vec::new(), None)),
        }
    }
    loop {
        let Some(org) = orgs::get(&mut conn, &at.org).await? else {
            return Err(StoreError::Corrupt(format!("org {} vanished during a full state", at.org)));
        };
        page.org(&org.slug).home_region = org.home_region;
        // The org's owners first, paged as its credentials are.
        while let Some(after) = at.owner_after.clone() {
            let batch = members::page(&mut conn, org.slug.as_str(), &after, FULL_BATCH).await?;
            let exhausted = i64::try_from(batch.len()).unwrap_or(0) < FULL_BATCH;
            for m in &batch {
                at.owner_after = Some(m.email.as_str().to_owned());
                page.add_owner(&org.slug, Member::edge_owner(m));
                if page.bytes >= budget {
                    return Ok((page.into_orgs(), Some(at)));
                }
            }
            if exhausted {
                at.owner_after = None;
            }
        }
        loop {
            let after = at.after.clone().unwrap_or_default();
            let batch = credentials::org_slice(&mut conn, org.slug.as_str(), &after, FULL_BATCH).await?;
            let exhausted = i64::try_from(batch.len()).unwrap_or(0) < FULL_BATCH;
            for c in batch {
                match c {
                    Ok(c) => {
                        at.after = Some(c.client_id.as_str().to_owned());
                        if c.edge_record(Vec::new()).tombstone_until(60).is_some_and(|until| until < now) {
                            continue;
                        }
                        page.add_credential(&mut conn, sealer, &org.slug, &c).await?;
                        if page.bytes >= budget {
                            // The org goes on in the next page (even if this was its last row: completing is cheap).
                            page.org(&org.slug);
                            return Ok((page.into_orgs(), Some(at)));
                        }
                    }
                    Err(e) => skip(&e),
                }
            }
            if exhausted {
                break;
            }
        }
        page.org(&org.slug).complete = true;
        match orgs::page(&mut conn, org.slug.as_str(), 1).await?.into_iter().next() {
            Some(next) => at = FullCursor::start_of(&next.slug),
            None => return Ok((page.into_orgs(), None)),
        }
        if page.is_full(budget) {
            return Ok((page.into_orgs(), Some(at)));
        }
    }
}

/// The credentials of `org` as the edges hold them, with their owners (for tests and tools).
pub async fn org_records(
    store: &Store,
    sealer: &ForEdge<'_>,
    org: &str,
) -> Result<(Vec<EdgeCredential>, Vec<EdgeOwner>), StoreError> {
    let mut conn = store.pool.acquire().await?;
    let mut creds = Vec::new();
    for c in credentials::org_slice(&mut conn, org, "", i64::MAX).await?.into_iter().filter_map(Result::ok) {
        let secrets = sealer.keys.edge_secrets(&mut conn, &c, sealer.edge).await?;
        creds.push(c.edge_record(secrets));
    }
    let owners = members::list(&mut conn, org).await?.iter().map(Member::edge_owner).collect();
    Ok((creds, owners))
}
