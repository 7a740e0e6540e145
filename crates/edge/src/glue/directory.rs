//! The client directory (`dir:R:N`, 16 shards by the client ID's hash): which
//! org a client ID belongs to. Asked only when a token's credential is not
//! in the org of the URL it is used on, so the edge can still answer
//! `org_mismatch` (architecture.md §4) rather than `unknown_client`.
//!
//! Internal interface: `POST /put [{client_id, org}]`, `POST /delete
//! [client_id]`, `POST /get {client_id}` → `{org}` (null: unknown).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// Shards of the directory per region.
pub const SHARDS: u8 = 16;

/// The shard of `client_id`.
pub fn shard(client_id: &str) -> u8 {
    Sha256::digest(client_id.as_bytes())[0] % SHARDS
}

/// One entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The credential.
    pub client_id: String,
    /// Its org.
    pub org: String,
}

/// `POST /get`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Get {
    /// The credential.
    pub client_id: String,
}

/// The answer to `/get`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Found {
    /// Its org, if known.
    pub org: Option<String>,
}

/// The Durable Object class (its `State` has no `Debug`).
#[allow(missing_debug_implementations)]
#[durable_object]
pub struct ClientDirectory {
    state: State,
}

#[derive(Deserialize)]
struct Row {
    org: String,
}

impl DurableObject for ClientDirectory {
    fn new(state: State, _env: Env) -> Self {
        if let Err(e) = state
            .storage()
            .sql()
            .exec("CREATE TABLE IF NOT EXISTS dir (client_id TEXT PRIMARY KEY, org TEXT NOT NULL)", None)
        {
            worker::console_error!("client directory: schema: {e}");
        }
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sql = self.state.storage().sql();
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/put") => {
                let entries: Vec<Entry> = req.json().await?;
                for e in &entries {
                    sql.exec(
                        "INSERT INTO dir (client_id, org) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET org = excluded.org",
                        vec![e.client_id.as_str().into(), e.org.as_str().into()],
                    )?;
                }
                Response::from_json(&serde_json::json!({ "put": entries.len() }))
            }
            (Method::Post, "/delete") => {
                let ids: Vec<String> = req.json().await?;
                for id in &ids {
                    sql.exec("DELETE FROM dir WHERE client_id = ?", vec![id.as_str().into()])?;
                }
                Response::from_json(&serde_json::json!({ "deleted": ids.len() }))
            }
            (Method::Post, "/get") => {
                let get: Get = req.json().await?;
                let row: Option<Row> = sql
                    .exec("SELECT org FROM dir WHERE client_id = ?", vec![get.client_id.as_str().into()])?
                    .to_array()?
                    .pop();
                Response::from_json(&Found { org: row.map(|r| r.org) })
            }
            _ => Response::error("not found", 404),
        }
    }
}
