//! The state store: one Durable Object (named `state`) that holds the
//! applied sync body, decides anti-rollback atomically for every isolate,
//! and records credential use for the admin's `last_used_at`.
//!
//! Storage is the Durable Object's SQLite: `meta` (version, when the admin
//! issued it, when the edge last heard an authentic sync message, the body's
//! tag), `chunks` (the sealed body, split under the row size limit), and
//! `usage` (last use per credential with a change sequence, so the admin
//! asks only for what changed). Each request runs its SQL without awaiting
//! anything in between, so it is atomic with respect to every other request.
//!
//! Internal interface (reachable only through the binding, never from the
//! internet): `GET /meta`, `POST /apply` (headers `x-version`,
//! `x-issued-at`, `x-embedgate-signature`; body: the sealed request),
//! `POST /touch`, `GET /snapshot`, `POST /usage`, `GET /usage?after=N`.

use embedgate_core::sync::{SyncOutcome, Usage, SIGNATURE_HEADER};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State};

/// Rows hold at most this many bytes of the body (the row limit is 2 MB).
const CHUNK_BYTES: usize = 1 << 20;
/// At most this many usage rows per answer.
const USAGE_PAGE: i64 = 5000;

/// The applied state's bookkeeping.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Meta {
    /// The applied version (0: nothing yet).
    pub version: u64,
    /// When the admin issued it.
    pub issued_at: i64,
    /// Until when the admin has vouched for this state: the latest `sent_at`
    /// of an authentic sync message, clamped to the edge's clock (0: never).
    pub synced_at: i64,
}

/// The answer to `/apply` and `/touch`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Applied {
    /// What happened.
    pub outcome: SyncOutcome,
    /// The state after it.
    pub meta: Meta,
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
pub struct StateStore {
    state: State,
}

#[derive(Deserialize)]
struct Chunk {
    data: String,
}

#[derive(Deserialize)]
struct UsageRow {
    client_id: String,
    last_used_at: i64,
    seq: i64,
}

impl StateStore {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn meta(&self) -> Result<Meta> {
        Ok(self
            .sql()
            .exec("SELECT version, issued_at, synced_at FROM meta WHERE id = 1", None)?
            .to_array()?
            .pop()
            .unwrap_or_default())
    }

    fn apply(&self, version: u64, issued_at: i64, vouched_at: i64, signature: &str, body: &str) -> Result<Applied> {
        let sql = self.sql();
        let meta = self.meta()?;
        // Never lowered: a replayed old message vouches for nothing new.
        let vouched_at = vouched_at.max(meta.synced_at);
        let outcome = if version > meta.version {
            sql.exec("DELETE FROM chunks", None)?;
            let mut rest = body;
            let mut seq = 0i64;
            while !rest.is_empty() {
                let mut cut = rest.len().min(CHUNK_BYTES);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                sql.exec("INSERT INTO chunks (seq, data) VALUES (?, ?)", vec![seq.into(), rest[..cut].into()])?;
                rest = &rest[cut..];
                seq += 1;
            }
            sql.exec(
                "INSERT INTO meta (id, version, issued_at, synced_at, signature) VALUES (1, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at, \
                 synced_at = excluded.synced_at, signature = excluded.signature",
                vec![int(version)?, issued_at.into(), vouched_at.into(), signature.into()],
            )?;
            SyncOutcome::Applied
        } else {
            self.touch(vouched_at)?;
            if version == meta.version {
                SyncOutcome::Current
            } else {
                SyncOutcome::Stale
            }
        };
        Ok(Applied { outcome, meta: self.meta()? })
    }

    /// Records that the admin vouched for the state at `vouched_at` (never lowers it).
    fn touch(&self, vouched_at: i64) -> Result<()> {
        self.sql().exec("UPDATE meta SET synced_at = MAX(synced_at, ?) WHERE id = 1", vec![vouched_at.into()])?;
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<(String, String)>> {
        #[derive(Deserialize)]
        struct Sig {
            signature: String,
        }
        let Some(sig) = self.sql().exec("SELECT signature FROM meta WHERE id = 1", None)?.to_array::<Sig>()?.pop()
        else {
            return Ok(None);
        };
        let chunks: Vec<Chunk> = self.sql().exec("SELECT data FROM chunks ORDER BY seq", None)?.to_array()?;
        Ok(Some((chunks.into_iter().map(|c| c.data).collect(), sig.signature)))
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
        let rows: Vec<UsageRow> = self
            .sql()
            .exec(
                "SELECT client_id, last_used_at, seq FROM usage WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![int(after)?, USAGE_PAGE.into()],
            )?
            .to_array()?;
        let cursor = rows.last().map_or(after, |r| u64::try_from(r.seq).unwrap_or(after));
        let usage = rows.into_iter().map(|r| Usage { client_id: r.client_id, last_used_at: r.last_used_at }).collect();
        Ok(UsagePage { usage, cursor })
    }
}

fn int(v: u64) -> Result<worker::SqlStorageValue> {
    worker::SqlStorageValue::try_from_i64(
        i64::try_from(v).map_err(|_| worker::Error::RustError("integer too large".into()))?,
    )
}

fn header_i64(req: &Request, name: &str) -> Option<i64> {
    req.headers().get(name).ok().flatten()?.parse().ok()
}

impl DurableObject for StateStore {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, \
             issued_at INTEGER NOT NULL, synced_at INTEGER NOT NULL, signature TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS chunks (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS usage (client_id TEXT PRIMARY KEY, last_used_at INTEGER NOT NULL, seq INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS usage_by_seq ON usage (seq)",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                worker::console_error!("state store: schema: {e}");
            }
        }
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Get, "/meta") => Response::from_json(&self.meta()?),
            (Method::Post, "/apply") => {
                let (Some(version), Some(issued_at), Some(signature)) = (
                    header_i64(&req, "x-version").and_then(|v| u64::try_from(v).ok()),
                    header_i64(&req, "x-issued-at"),
                    req.headers().get(SIGNATURE_HEADER)?,
                ) else {
                    return Response::error("missing x-version, x-issued-at or signature", 400);
                };
                let vouched_at = header_i64(&req, "x-vouched-at").unwrap_or(0);
                let body = req.text().await?;
                Response::from_json(&self.apply(version, issued_at, vouched_at, &signature, &body)?)
            }
            (Method::Post, "/touch") => {
                self.touch(header_i64(&req, "x-vouched-at").unwrap_or(0))?;
                let meta = self.meta()?;
                Response::from_json(&Applied { outcome: SyncOutcome::Probed, meta })
            }
            (Method::Get, "/snapshot") => match self.snapshot()? {
                Some((body, signature)) => {
                    let mut resp = Response::ok(body)?;
                    resp.headers_mut().set(SIGNATURE_HEADER, &signature)?;
                    Ok(resp)
                }
                None => Response::error("no state yet", 404),
            },
            (Method::Post, "/usage") => {
                let rows: Vec<Usage> = req.json().await?;
                self.record_usage(&rows)?;
                Response::empty()
            }
            (Method::Get, "/usage") => {
                let after = req.url()?.query_pairs().find(|(k, _)| k == "after").and_then(|(_, v)| v.parse().ok());
                Response::from_json(&self.usage_after(after.unwrap_or(0))?)
            }
            _ => Response::error("not found", 404),
        }
    }
}
