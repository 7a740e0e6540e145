//! The replay guard: Durable Objects that remember every accepted `jti`
//! until its token can no longer be accepted anyway (`exp` + leeway).
//!
//! A token's key is `SHA-256(client_id ‖ 0 ‖ jti)`; the guards are keyed under
//! the credential's org, 16 per org (`jti:ORG:0` … `jti:ORG:f`, the key's
//! first hex digit), and created in the org's home region (a location hint,
//! a per-org setting of the admin), so a first load pays its round trip to
//! an object near the org's users. One key always lands in the same object
//! (strong consistency) while load spreads. Each separately deployed edge
//! has its own guards: a `jti` is single use per deployment. The check is one SQL
//! statement, `INSERT … ON CONFLICT DO NOTHING RETURNING`, with nothing
//! awaited before it: of any number of concurrent uses exactly one is first.
//! An alarm deletes expired keys.
//!
//! Internal interface: `POST /use` with `{"k": hex key, "until": unix seconds}`
//! answers `{"first": bool}`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::now_s;

/// One use of a token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Use {
    /// The hex key.
    pub k: String,
    /// Remember it until then (Unix seconds).
    pub until: i64,
}

/// The verdict.
#[derive(Debug, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether this was the first use.
    pub first: bool,
}

/// The key and the guard's name of `jti` under `client_id` of `org`.
pub fn key(org: &str, client_id: &str, jti: &str) -> (String, String) {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update([0]);
    h.update(jti.as_bytes());
    let digest = h.finalize();
    let hex = digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    });
    let shard = format!("jti:{org}:{}", &hex[..1]);
    (hex, shard)
}

/// The Durable Object class (its `State` has no `Debug`).
#[allow(missing_debug_implementations)]
#[durable_object]
pub struct ReplayGuard {
    state: State,
}

#[derive(Deserialize)]
struct Row {
    #[allow(dead_code)]
    k: String,
}

#[derive(Deserialize)]
struct Next {
    until: Option<i64>,
}

impl ReplayGuard {
    async fn schedule_cleanup(&self) -> Result<()> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_some() {
            return Ok(());
        }
        let next: Option<Next> = storage.sql().exec("SELECT MIN(until) AS until FROM used", None)?.to_array()?.pop();
        if let Some(until) = next.and_then(|n| n.until) {
            // A minute after the first key expires: one sweep takes all expired by then.
            let offset_ms = until.saturating_sub(now_s()).max(0).saturating_add(60).saturating_mul(1000);
            storage.set_alarm(offset_ms).await?;
        }
        Ok(())
    }
}

impl DurableObject for ReplayGuard {
    fn new(state: State, _env: Env) -> Self {
        if let Err(e) = state
            .storage()
            .sql()
            .exec("CREATE TABLE IF NOT EXISTS used (k TEXT PRIMARY KEY, until INTEGER NOT NULL)", None)
        {
            worker::console_error!("replay guard: schema: {e}");
        }
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() != Method::Post || req.path() != "/use" {
            return Response::error("not found", 404);
        }
        let used: Use = req.json().await?;
        // The check and the write are one statement: nothing is awaited in between.
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec(
                "INSERT INTO used (k, until) VALUES (?, ?) ON CONFLICT (k) DO NOTHING RETURNING k",
                vec![used.k.into(), used.until.into()],
            )?
            .to_array()?;
        let first = rows.len() == 1;
        if first {
            self.schedule_cleanup().await?;
        }
        Response::from_json(&Verdict { first })
    }

    async fn alarm(&self) -> Result<Response> {
        self.state.storage().sql().exec("DELETE FROM used WHERE until < ?", vec![now_s().into()])?;
        self.schedule_cleanup().await?;
        Response::empty()
    }
}
