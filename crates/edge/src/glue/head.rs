//! The regional head (`head:R`): one region's applied version, the admin's
//! vouching and a full state's progress ([`ReplicaMeta`], decided by core),
//! and the credential use the region's isolates saw (for `last_used_at`).
//!
//! Only the sync endpoint and `/healthz` ask it, and isolates flush their
//! usage to it in batches (at most every few seconds each): it is not on an
//! embed's request path.
//!
//! Internal interface (only through the binding): `GET /meta`,
//! `POST /admit {lineage, body, vouched_at}`, `POST /commit {lineage, body, issued_at}`,
//! `POST /fail {why}`, `POST /usage [Usage]`, `GET /usage?after=N`. A
//! `body` here is a [`SyncBody`] with its orgs left out.

use embedgate_core::replica::{Admit, ReplicaMeta};
use embedgate_core::sync::{SyncBody, Usage};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State};

/// At most this many usage rows per answer.
const USAGE_PAGE: i64 = 5000;

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

    fn record_usage(&self, rows: &[Usage]) -> Result<()> {
        let sql = self.sql();
        for row in rows {
            sql.exec(
                "INSERT INTO usage (client_id, last_used_at, seq) \
                 VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM usage)) \
                 ON CONFLICT (client_id) DO UPDATE SET last_used_at = excluded.last_used_at, seq = excluded.seq \
                 WHERE excluded.last_used_at > usage.last_used_at",
                vec![row.client_id.as_str().into(), row.last_used_at.into()],
            )?;
        }
        Ok(())
    }

    fn usage_after(&self, after: u64) -> Result<UsagePage> {
        #[derive(Deserialize)]
        struct Top {
            seq: Option<i64>,
        }
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
        Ok(UsagePage { usage, cursor: u64::try_from(cursor).unwrap_or(0) })
    }
}

impl DurableObject for RegionHead {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS usage (client_id TEXT PRIMARY KEY, last_used_at INTEGER NOT NULL, seq INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS usage_by_seq ON usage (seq)",
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
                let rows: Vec<Usage> = req.json().await?;
                self.record_usage(&rows)?;
                Response::from_json(&serde_json::json!({ "recorded": rows.len() }))
            }
            (Method::Get, "/usage") => {
                let after = req.url()?.query_pairs().find(|(k, _)| k == "after").and_then(|(_, v)| v.parse().ok());
                Response::from_json(&self.usage_after(after.unwrap_or(0))?)
            }
            _ => Response::error("not found", 404),
        }
    }
}
