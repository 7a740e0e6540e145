//! One org's store in one region (`org:R:ORG`): the org's credentials and
//! owners as the admin last sent them (each applied only when newer, so a
//! late or repeated message never takes a record back), the org's home
//! region, and a change log the isolates ask for news with their cursor
//! ([`OrgCursor`]): a lookup answers the credential asked for and what
//! changed since the cursor, in one round trip ([`OrgAnswer`]).
//!
//! A full state is staged under its id and switched in when the org's last
//! records arrive (`complete`): until then the old records are served. The
//! switch starts a new epoch, so every isolate drops what it held of the
//! org. Revoked credentials stay as tombstones until no token or session of
//! theirs can be accepted, then an alarm drops them.
//!
//! Every request runs its SQL without awaiting anything in between, so it is
//! atomic with respect to every other request.
//!
//! Internal interface (only through the binding): `POST /apply {changes}`,
//! `POST /stage {id, changes}`, `POST /lookup {client_id?, cursor?}`.

use embedgate_core::cache::{OrgAnswer, OrgCursor};
use embedgate_core::{EdgeCredential, EdgeOwner, OrgChanges, Region};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, SqlStorageValue, State,
};

use super::config;
use super::now_s;

/// Log entries kept: an isolate whose cursor is older is told to reset.
const LOG_KEEP: i64 = 10_000;
/// Changes named in one answer at most (more: reset).
const ANSWER_MAX_CHANGES: i64 = 1_000;

/// `POST /apply`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The org's changes.
    pub changes: OrgChanges,
}

/// `POST /stage`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StageRequest {
    /// The full state's id.
    pub id: String,
    /// Replace even with older records (the edge followed another database).
    #[serde(default)]
    pub replace: bool,
    /// The org's records in this page.
    pub changes: OrgChanges,
}

/// `POST /lookup`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LookupRequest {
    /// The credential asked for.
    pub client_id: Option<String>,
    /// The change cursor the isolate last saw.
    pub cursor: Option<OrgCursor>,
}

/// What `/apply` and `/stage` did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Taken {
    /// Records applied (newer than what was held).
    pub applied: usize,
    /// Whether a full state was switched in.
    pub switched: bool,
}

/// The Durable Object class (its `State` has no `Debug`).
#[allow(missing_debug_implementations)]
#[durable_object]
pub struct OrgStore {
    state: State,
    env: Env,
}

#[derive(Debug, Deserialize)]
struct Meta {
    epoch: String,
    seq: i64,
    home_region: Option<String>,
    staged: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    record: String,
}

#[derive(Deserialize)]
struct Key {
    kind: String,
    key: String,
}

#[derive(Deserialize)]
struct Returned {
    #[allow(dead_code)]
    k: String,
}

#[derive(Deserialize)]
struct Min {
    v: Option<i64>,
}

fn int(v: u64) -> SqlStorageValue {
    i64::try_from(v).unwrap_or(i64::MAX).into()
}

fn new_epoch() -> String {
    embedgate_core::random_jti().unwrap_or_else(|_| format!("e{}", super::now_ms()))
}

impl OrgStore {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn leeway(&self) -> u64 {
        config::get(&self.env).map_or(60, |c| c.validation.leeway_s)
    }

    fn meta(&self) -> Result<Meta> {
        let found: Option<Meta> =
            self.sql().exec("SELECT epoch, seq, home_region, staged FROM meta WHERE id = 1", None)?.to_array()?.pop();
        if let Some(meta) = found {
            return Ok(meta);
        }
        let meta = Meta { epoch: new_epoch(), seq: 0, home_region: None, staged: None };
        self.sql().exec(
            "INSERT INTO meta (id, epoch, seq, home_region, staged) VALUES (1, ?, 0, NULL, NULL)",
            vec![meta.epoch.as_str().into()],
        )?;
        Ok(meta)
    }

    fn log(&self, meta: &mut Meta, kind: &str, key: &str) -> Result<()> {
        meta.seq += 1;
        self.sql().exec(
            "INSERT INTO log (seq, kind, key) VALUES (?, ?, ?)",
            vec![meta.seq.into(), kind.into(), key.into()],
        )?;
        Ok(())
    }

    fn save(&self, meta: &Meta) -> Result<()> {
        self.sql().exec(
            "UPDATE meta SET epoch = ?, seq = ?, home_region = ?, staged = ? WHERE id = 1",
            vec![
                meta.epoch.as_str().into(),
                meta.seq.into(),
                meta.home_region.as_deref().into(),
                meta.staged.as_deref().into(),
            ],
        )?;
        // Isolates further behind than the log reaches are told to reset.
        self.sql().exec("DELETE FROM log WHERE seq <= ?", vec![(meta.seq - LOG_KEEP).into()])?;
        Ok(())
    }

    fn upsert_credential(&self, table: &str, c: &EdgeCredential, leeway: u64) -> Result<bool> {
        let tombstone = c.tombstone_until(leeway);
        let rows: Vec<Returned> = self
            .sql()
            .exec(
                &format!(
                    "INSERT INTO {table} (client_id, version, record, tombstone) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (client_id) DO UPDATE SET version = excluded.version, record = excluded.record, \
                     tombstone = excluded.tombstone WHERE excluded.version > {table}.version RETURNING client_id AS k"
                ),
                vec![c.client_id.as_str().into(), int(c.version), serde_json::to_string(c)?.into(), tombstone.into()],
            )?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    fn upsert_owner(&self, table: &str, o: &EdgeOwner) -> Result<bool> {
        let rows: Vec<Returned> = self
            .sql()
            .exec(
                &format!(
                    "INSERT INTO {table} (email, version, record) VALUES (?, ?, ?) \
                     ON CONFLICT (email) DO UPDATE SET version = excluded.version, record = excluded.record \
                     WHERE excluded.version > {table}.version RETURNING email AS k"
                ),
                vec![o.email.as_str().into(), int(o.version), serde_json::to_string(o)?.into()],
            )?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    fn apply(&self, changes: &OrgChanges) -> Result<Taken> {
        let mut meta = self.meta()?;
        let leeway = self.leeway();
        let mut taken = Taken::default();
        for c in &changes.credentials {
            if self.upsert_credential("credentials", c, leeway)? {
                self.log(&mut meta, "c", c.client_id.as_str())?;
                taken.applied += 1;
            }
        }
        for o in &changes.owners {
            if self.upsert_owner("owners", o)? {
                self.log(&mut meta, "o", &o.email)?;
                taken.applied += 1;
            }
        }
        for d in &changes.deleted {
            let gone: Vec<Returned> = self
                .sql()
                .exec(
                    "DELETE FROM credentials WHERE client_id = ? AND version < ? RETURNING client_id AS k",
                    vec![d.client_id.as_str().into(), int(d.version)],
                )?
                .to_array()?;
            if !gone.is_empty() {
                self.log(&mut meta, "c", d.client_id.as_str())?;
                taken.applied += 1;
            }
        }
        if let Some(region) = changes.home_region {
            meta.home_region = Some(region.as_str().to_owned());
        }
        self.save(&meta)?;
        Ok(taken)
    }

    fn stage(&self, id: &str, replace: bool, changes: &OrgChanges) -> Result<Taken> {
        let mut meta = self.meta()?;
        let sql = self.sql();
        if meta.staged.as_deref() != Some(id) {
            sql.exec("DELETE FROM staged_credentials", None)?;
            sql.exec("DELETE FROM staged_owners", None)?;
            meta.staged = Some(id.to_owned());
        }
        let leeway = self.leeway();
        let mut taken = Taken::default();
        for c in &changes.credentials {
            taken.applied += usize::from(self.upsert_credential("staged_credentials", c, leeway)?);
        }
        for o in &changes.owners {
            taken.applied += usize::from(self.upsert_owner("staged_owners", o)?);
        }
        if let Some(region) = changes.home_region {
            meta.home_region = Some(region.as_str().to_owned());
        }
        if changes.complete && !replace {
            // Records held that are newer than the staged ones stay (never back); the rest is the new set.
            sql.exec(
                "INSERT INTO staged_credentials (client_id, version, record, tombstone) \
                 SELECT client_id, version, record, tombstone FROM credentials \
                 WHERE client_id IN (SELECT client_id FROM staged_credentials) \
                 ON CONFLICT (client_id) DO UPDATE SET version = excluded.version, record = excluded.record, \
                 tombstone = excluded.tombstone WHERE excluded.version > staged_credentials.version",
                None,
            )?;
            sql.exec(
                "INSERT INTO staged_owners (email, version, record) SELECT email, version, record FROM owners \
                 WHERE email IN (SELECT email FROM staged_owners) \
                 ON CONFLICT (email) DO UPDATE SET version = excluded.version, record = excluded.record \
                 WHERE excluded.version > staged_owners.version",
                None,
            )?;
        }
        if changes.complete {
            sql.exec("DELETE FROM credentials", None)?;
            sql.exec(
                "INSERT INTO credentials SELECT client_id, version, record, tombstone FROM staged_credentials",
                None,
            )?;
            sql.exec("DELETE FROM owners", None)?;
            sql.exec("INSERT INTO owners SELECT email, version, record FROM staged_owners", None)?;
            sql.exec("DELETE FROM staged_credentials", None)?;
            sql.exec("DELETE FROM staged_owners", None)?;
            sql.exec("DELETE FROM log", None)?;
            meta.epoch = new_epoch();
            meta.seq = 0;
            meta.staged = None;
            taken.switched = true;
        }
        self.save(&meta)?;
        Ok(taken)
    }

    fn lookup(&self, request: &LookupRequest) -> Result<OrgAnswer> {
        let meta = self.meta()?;
        let sql = self.sql();
        let mut answer = OrgAnswer {
            epoch: meta.epoch.clone(),
            seq: u64::try_from(meta.seq).unwrap_or(0),
            home_region: meta.home_region.as_deref().and_then(|r| r.parse::<Region>().ok()),
            ..OrgAnswer::default()
        };
        if let Some(cursor) = &request.cursor {
            let since = i64::try_from(cursor.seq).unwrap_or(i64::MAX);
            let oldest: Option<Min> = sql.exec("SELECT MIN(seq) AS v FROM log", None)?.to_array()?.pop();
            let oldest = oldest.and_then(|m| m.v).unwrap_or(meta.seq + 1);
            let keys: Vec<Key> = if cursor.epoch == meta.epoch && since <= meta.seq && since + 1 >= oldest {
                sql.exec(
                    "SELECT kind, key FROM log WHERE seq > ? ORDER BY seq LIMIT ?",
                    vec![since.into(), (ANSWER_MAX_CHANGES + 1).into()],
                )?
                .to_array()?
            } else {
                answer.reset = true;
                Vec::new()
            };
            if i64::try_from(keys.len()).unwrap_or(i64::MAX) > ANSWER_MAX_CHANGES {
                answer.reset = true;
            } else {
                for k in keys {
                    match k.kind.as_str() {
                        "o" => answer.changed_owners.push(k.key),
                        _ => answer.changed_credentials.push(k.key),
                    }
                }
            }
        }
        if let Some(client_id) = &request.client_id {
            let found: Option<Record> = sql
                .exec("SELECT record FROM credentials WHERE client_id = ?", vec![client_id.as_str().into()])?
                .to_array()?
                .pop();
            if let Some(credential) = found.and_then(|r| serde_json::from_str::<EdgeCredential>(&r.record).ok()) {
                let owner: Option<Record> = sql
                    .exec("SELECT record FROM owners WHERE email = ?", vec![credential.owner.as_str().into()])?
                    .to_array()?
                    .pop();
                answer.owner = owner.and_then(|r| serde_json::from_str(&r.record).ok());
                answer.credential = Some(credential);
            }
        }
        Ok(answer)
    }

    /// Schedules the next tombstone expiry (if any, and none is set).
    async fn schedule_expiry(&self) -> Result<()> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_some() {
            return Ok(());
        }
        let next: Option<Min> = self.sql().exec("SELECT MIN(tombstone) AS v FROM credentials", None)?.to_array()?.pop();
        if let Some(until) = next.and_then(|n| n.v) {
            let offset_ms = until.saturating_sub(now_s()).max(0).saturating_add(1).saturating_mul(1000);
            storage.set_alarm(offset_ms).await?;
        }
        Ok(())
    }
}

impl DurableObject for OrgStore {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), epoch TEXT NOT NULL, \
             seq INTEGER NOT NULL, home_region TEXT, staged TEXT)",
            "CREATE TABLE IF NOT EXISTS credentials (client_id TEXT PRIMARY KEY, version INTEGER NOT NULL, \
             record TEXT NOT NULL, tombstone INTEGER)",
            "CREATE TABLE IF NOT EXISTS owners (email TEXT PRIMARY KEY, version INTEGER NOT NULL, record TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS staged_credentials (client_id TEXT PRIMARY KEY, version INTEGER NOT NULL, \
             record TEXT NOT NULL, tombstone INTEGER)",
            "CREATE TABLE IF NOT EXISTS staged_owners (email TEXT PRIMARY KEY, version INTEGER NOT NULL, record TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS credentials_by_tombstone ON credentials (tombstone)",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                worker::console_error!("org store: schema: {e}");
            }
        }
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/apply") => {
                let request: ApplyRequest = req.json().await?;
                let taken = self.apply(&request.changes)?;
                self.schedule_expiry().await?;
                Response::from_json(&taken)
            }
            (Method::Post, "/stage") => {
                let request: StageRequest = req.json().await?;
                let taken = self.stage(&request.id, request.replace, &request.changes)?;
                self.schedule_expiry().await?;
                Response::from_json(&taken)
            }
            (Method::Post, "/lookup") => Response::from_json(&self.lookup(&req.json().await?)?),
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let mut meta = self.meta()?;
        let expired: Vec<Returned> = self
            .sql()
            .exec("DELETE FROM credentials WHERE tombstone <= ? RETURNING client_id AS k", vec![now_s().into()])?
            .to_array()?;
        for gone in &expired {
            self.log(&mut meta, "c", &gone.k)?;
        }
        self.save(&meta)?;
        self.schedule_expiry().await?;
        Response::empty()
    }
}
