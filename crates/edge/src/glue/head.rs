//! The regional head (`head:R`): one region's applied version, the admin's
//! vouching and a full state's progress ([`ReplicaMeta`], decided by core),
//! and the credential use the region's isolates saw (for `last_used_at`),
//! with per identity (credential, `sub`) its running totals (embed users).
//!
//! Only the sync endpoint and `/healthz` ask it, and isolates flush their
//! usage to it in batches (at most every few seconds each): it is not on an
//! embed's request path.
//!
//! Internal interface (only through the binding): `GET /meta`,
//! `POST /admit {lineage, body, vouched_at}`, `POST /commit {lineage, body, issued_at}`,
//! `POST /fail {why}`, `POST /usage UsageBatch` (or, from older isolates,
//! `[Usage]`), `GET /usage?after=N&users_after=M&users_budget=B`. A
//! `body` here is a [`SyncBody`] with its orgs left out.

use embedgate_core::replica::{Admit, ReplicaMeta};
use embedgate_core::sync::{SyncBody, Usage};
use embedgate_core::usage::{fit, EmbedUse, UsageBatch, UsageReport};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State};

/// At most this many usage rows per answer.
const USAGE_PAGE: i64 = 5000;
/// At most this many embed-user rows read per answer (then cut to the budget asked for).
const USERS_PAGE: i64 = 1000;

/// `POST /admit`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdmitRequest {
    /// The admin database's lineage.
    pub lineage: String,
    /// The admin's current version.
    pub version: u64,
    /// The message, its orgs left out.
    pub body: SyncBody,
    /// Until when the message vouches for the state.
    pub vouched_at: i64,
}

/// The head's verdict on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Take it.
    Proceed,
    /// Already there.
    Current,
    /// Older than the region.
    Stale,
    /// Not where the region is.
    Gap,
    /// Out of range or too far ahead (the reason is in `meta.error`).
    Refused,
}

/// The answer to `/admit`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Admitted {
    /// What to do.
    pub verdict: Verdict,
    /// The region's state.
    pub meta: ReplicaMeta,
}

/// `POST /commit`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CommitRequest {
    /// The admin database's lineage.
    pub lineage: String,
    /// The message taken, its orgs left out.
    pub body: SyncBody,
    /// When the admin sent it.
    pub issued_at: i64,
}

/// A page of usage rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsagePage {
    /// Rows changed after the cursor asked for.
    pub usage: Vec<Usage>,
    /// The cursor to ask with next time.
    pub cursor: u64,
    /// Embed users whose totals changed after `users_after`, within the budget.
    #[serde(default)]
    pub users: Vec<EmbedUse>,
    /// The cursor to ask with next time for them.
    #[serde(default)]
    pub users_cursor: u64,
    /// Identities the region's isolates could not keep, in total.
    #[serde(default)]
    pub users_dropped: u64,
}

/// The Durable Object class (its `State` has no `Debug`).
#[allow(missing_debug_implementations)]
#[durable_object]
pub struct RegionHead {
    state: State,
}

#[derive(Deserialize)]
struct MetaRow {
    value: String,
}

#[derive(Deserialize)]
struct UsageRow {
    client_id: String,
    last_used_at: i64,
    seq: i64,
}

#[derive(Deserialize)]
struct UserRow {
    client_id: String,
    sub: String,
    account_type: Option<String>,
    teams: String,
    first_seen: i64,
    last_seen: i64,
    loads: i64,
    seq: i64,
}

#[derive(Deserialize)]
struct Top {
    seq: Option<i64>,
}

#[derive(Deserialize)]
struct Counter {
    value: i64,
}

#[derive(Deserialize)]
struct Fail {
    why: String,
}

impl RegionHead {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn meta(&self) -> Result<ReplicaMeta> {
        let row: Option<MetaRow> = self.sql().exec("SELECT value FROM meta WHERE id = 1", None)?.to_array()?.pop();
        Ok(row.and_then(|r| serde_json::from_str(&r.value).ok()).unwrap_or_default())
    }

    fn save(&self, meta: &ReplicaMeta) -> Result<()> {
        self.sql().exec(
            "INSERT INTO meta (id, value) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            vec![serde_json::to_string(meta)?.into()],
        )?;
        Ok(())
    }

    fn admit(&self, request: &AdmitRequest) -> Result<Admitted> {
        let mut meta = self.meta()?;
        meta.vouch(request.vouched_at);
        if request.body == SyncBody::Probe {
            meta.probed(&request.lineage, request.version);
        }
        let verdict = match meta.admit(&request.lineage, &request.body) {
            Admit::Proceed => Verdict::Proceed,
            Admit::Current => Verdict::Current,
            Admit::Stale => Verdict::Stale,
            Admit::Gap => Verdict::Gap,
            Admit::Refused(e) => {
                meta.fail(e.to_string());
                Verdict::Refused
            }
        };
        self.save(&meta)?;
        Ok(Admitted { verdict, meta })
    }

    fn record_usage(&self, batch: UsageBatch) -> Result<()> {
        let sql = self.sql();
        for row in &batch.usage {
            sql.exec(
                "INSERT INTO usage (client_id, last_used_at, seq) \
                 VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM usage)) \
                 ON CONFLICT (client_id) DO UPDATE SET last_used_at = excluded.last_used_at, seq = excluded.seq \
                 WHERE excluded.last_used_at > usage.last_used_at",
                vec![row.client_id.as_str().into(), row.last_used_at.into()],
            )?;
        }
        // Running totals per identity: loads only grow, so the admin can count growth once.
        for user in batch.users.into_iter().take(embedgate_core::usage::MAX_USERS_PER_FLUSH) {
            let user = user.bounded();
            let known: Option<UserRow> = sql
                .exec(
                    "SELECT client_id, sub, account_type, teams, first_seen, last_seen, loads, seq FROM users \
                     WHERE client_id = ? AND sub = ?",
                    vec![user.client_id.as_str().into(), user.sub.as_str().into()],
                )?
                .to_array()?
                .pop();
            let mut total = user;
            if let Some(known) = known {
                let mut merged = from_row(known);
                merged.merge(&total);
                total = merged;
            }
            sql.exec(
                "INSERT INTO users (client_id, sub, account_type, teams, first_seen, last_seen, loads, seq) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM users)) \
                 ON CONFLICT (client_id, sub) DO UPDATE SET account_type = excluded.account_type, \
                 teams = excluded.teams, first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
                 loads = excluded.loads, seq = excluded.seq",
                vec![
                    total.client_id.as_str().into(),
                    total.sub.as_str().into(),
                    total.account_type.map(embedgate_core::AccountType::as_str).into(),
                    serde_json::to_string(&total.teams)?.into(),
                    total.first_seen.into(),
                    total.last_seen.into(),
                    i64::try_from(total.loads).unwrap_or(i64::MAX).into(),
                ],
            )?;
        }
        if batch.dropped > 0 {
            sql.exec(
                "INSERT INTO counters (name, value) VALUES ('users_dropped', ?) \
                 ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                vec![i64::try_from(batch.dropped).unwrap_or(i64::MAX).into()],
            )?;
        }
        Ok(())
    }

    fn users_after(&self, after: u64, budget: usize) -> Result<(Vec<EmbedUse>, u64, u64)> {
        let mut after = i64::try_from(after).unwrap_or(i64::MAX);
        let top: Option<Top> = self.sql().exec("SELECT MAX(seq) AS seq FROM users", None)?.to_array()?.pop();
        if after > top.and_then(|t| t.seq).unwrap_or(0) {
            after = 0;
        }
        let rows: Vec<UserRow> = self
            .sql()
            .exec(
                "SELECT client_id, sub, account_type, teams, first_seen, last_seen, loads, seq FROM users \
                 WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![after.into(), USERS_PAGE.into()],
            )?
            .to_array()?;
        let rows = rows.into_iter().map(|r| (u64::try_from(r.seq).unwrap_or(0), from_row(r))).collect();
        let (users, cursor) = fit(rows, budget);
        let dropped: Option<Counter> =
            self.sql().exec("SELECT value FROM counters WHERE name = 'users_dropped'", None)?.to_array()?.pop();
        let dropped = dropped.map_or(0, |c| u64::try_from(c.value).unwrap_or(0));
        Ok((users, cursor.unwrap_or(u64::try_from(after).unwrap_or(0)), dropped))
    }

    fn usage_after(&self, after: u64) -> Result<UsagePage> {
        let mut after = i64::try_from(after).unwrap_or(i64::MAX);
        // A cursor past everything recorded comes from before this head lost its storage: start over.
        let top: Option<Top> = self.sql().exec("SELECT MAX(seq) AS seq FROM usage", None)?.to_array()?.pop();
        if after > top.and_then(|t| t.seq).unwrap_or(0) {
            after = 0;
        }
        let rows: Vec<UsageRow> = self
            .sql()
            .exec(
                "SELECT client_id, last_used_at, seq FROM usage WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![after.into(), USAGE_PAGE.into()],
            )?
            .to_array()?;
        let cursor = rows.last().map_or(after, |r| r.seq);
        let usage = rows.into_iter().map(|r| Usage { client_id: r.client_id, last_used_at: r.last_used_at }).collect();
        Ok(UsagePage { usage, cursor: u64::try_from(cursor).unwrap_or(0), ..UsagePage::default() })
    }
}

impl DurableObject for RegionHead {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS usage (client_id TEXT PRIMARY KEY, last_used_at INTEGER NOT NULL, seq INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS usage_by_seq ON usage (seq)",
            "CREATE TABLE IF NOT EXISTS users (client_id TEXT NOT NULL, sub TEXT NOT NULL, account_type TEXT, \
             teams TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, loads INTEGER NOT NULL, \
             seq INTEGER NOT NULL, PRIMARY KEY (client_id, sub))",
            "CREATE INDEX IF NOT EXISTS users_by_seq ON users (seq)",
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                worker::console_error!("region head: schema: {e}");
            }
        }
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Get, "/meta") => Response::from_json(&self.meta()?),
            (Method::Post, "/admit") => Response::from_json(&self.admit(&req.json().await?)?),
            (Method::Post, "/commit") => {
                let commit: CommitRequest = req.json().await?;
                let mut meta = self.meta()?;
                meta.commit(&commit.lineage, &commit.body, commit.issued_at);
                self.save(&meta)?;
                Response::from_json(&meta)
            }
            (Method::Post, "/fail") => {
                let fail: Fail = req.json().await?;
                let mut meta = self.meta()?;
                meta.fail(fail.why);
                self.save(&meta)?;
                Response::from_json(&meta)
            }
            (Method::Post, "/usage") => {
                let batch = req.json::<UsageReport>().await?.into_batch();
                let recorded = batch.usage.len() + batch.users.len();
                self.record_usage(batch)?;
                Response::from_json(&serde_json::json!({ "recorded": recorded }))
            }
            (Method::Get, "/usage") => {
                let url = req.url()?;
                let param = |name: &str| -> Option<u64> {
                    url.query_pairs().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
                };
                let mut page = self.usage_after(param("after").unwrap_or(0))?;
                let budget = param("users_budget").map_or(0, |b| usize::try_from(b).unwrap_or(0));
                if budget > 0 {
                    let (users, cursor, dropped) = self.users_after(param("users_after").unwrap_or(0), budget)?;
                    page.users = users;
                    page.users_cursor = cursor;
                    page.users_dropped = dropped;
                }
                Response::from_json(&page)
            }
            _ => Response::error("not found", 404),
        }
    }
}

fn from_row(r: UserRow) -> EmbedUse {
    EmbedUse {
        client_id: r.client_id,
        sub: r.sub,
        account_type: r.account_type.and_then(|a| a.parse().ok()),
        teams: serde_json::from_str(&r.teams).unwrap_or_default(),
        first_seen: r.first_seen,
        last_seen: r.last_seen,
        loads: u64::try_from(r.loads).unwrap_or(0),
    }
}
