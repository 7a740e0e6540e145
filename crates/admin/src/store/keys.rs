//! The admin's half of the key hierarchy (architecture.md §9).
//!
//! - [`Keys`]: the master keys this process is configured with (the current
//!   one first, at most one more during `embedgate rekey`) and a cache of
//!   the org keys they opened. Each org's key lives in `orgs.key_wrapped`,
//!   wrapped under the master key `orgs.key_master` names; the master key is
//!   never stored.
//! - An embed secret is derived from its org's key ([`Kdf::V2`]) when it is
//!   shown (create, rotate) and when it is wrapped for an edge (push). A
//!   secret issued under the retired v1 scheme is sealed under its org's key
//!   in its credential row (`sealed_current` / `sealed_previous`).
//! - [`prepare`] runs at every start: it refuses a retired master key or one
//!   that does not open the orgs' keys, and upgrades a database from before
//!   the hierarchy (an org key for each org, the v1 secrets sealed).
//! - [`rekey`] re-wraps every org key under a new master key, a batch at a
//!   time, resumable; [`Change::rotate_org_key`] moves one org to new key
//!   material (every credential with a secret gets a new one; those that
//!   sign with a public key are left alone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use embedgate_core::{
    ClientId, EdgeKey, EmbedSecret, Kdf, KeyError, KeyId, KeySet, MasterKey, OrgKey, OrgSlug, SecretGeneration, Wrapped,
};
use sqlx::{AnyConnection, Row};

use super::credentials::Credential;
use super::{stored, Change, Event, Store, StoreError};

/// Org keys kept open in memory at most (about 100 bytes each).
const CACHE_MAX: usize = 100_000;
/// Orgs re-wrapped per transaction by [`rekey`].
const REKEY_BATCH: i64 = 200;
/// The settings row naming the master key a retired one was replaced by.
const RETIRED: &str = "master_key_retired:";
/// The same while `embedgate rekey` runs (it becomes [`RETIRED`] at the end).
const RETIRING: &str = "master_key_retiring:";

/// The configured master keys and the org keys they opened.
pub struct Keys {
    masters: KeySet<MasterKey>,
    /// Org → (epoch, key): an entry is used only for the epoch asked for, so
    /// an org moved to new key material by another replica is re-read.
    cache: Mutex<HashMap<String, (u32, Arc<OrgKey>)>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("masters", &self.masters).finish_non_exhaustive()
    }
}

impl Keys {
    /// Keys for `masters` (the current one first).
    pub fn new(masters: KeySet<MasterKey>) -> Self {
        Self { masters, cache: Mutex::new(HashMap::new()) }
    }

    /// The configured master keys.
    pub fn masters(&self) -> &KeySet<MasterKey> {
        &self.masters
    }

    /// New key material for `org` at `epoch`, wrapped under the current master key.
    fn new_org_key(&self, org: &OrgSlug, epoch: u32) -> Result<(OrgKey, Wrapped), StoreError> {
        let key = OrgKey::generate().map_err(key_error)?;
        let wrapped = self.masters.current().wrap_org_key(org, epoch, &key).map_err(key_error)?;
        Ok((key, wrapped))
    }

    /// `org`'s key at `epoch`: from the cache, or read and opened.
    pub async fn org_key(
        &self,
        conn: &mut AnyConnection,
        org: &OrgSlug,
        epoch: u32,
    ) -> Result<Arc<OrgKey>, StoreError> {
        if let Some((e, key)) = self.cache.lock().map_err(poisoned)?.get(org.as_str()) {
            if *e == epoch {
                return Ok(key.clone());
            }
        }
        let row = sqlx::query("SELECT key_epoch, key_wrapped FROM orgs WHERE slug = $1")
            .bind(org.as_str())
            .fetch_optional(conn)
            .await?
            .ok_or(StoreError::NotFound("org"))?;
        let stored_epoch = epoch_of(row.try_get("key_epoch")?)?;
        let wrapped: Option<String> = row.try_get("key_wrapped")?;
        let wrapped = wrapped.ok_or_else(|| StoreError::NoOrgKey(org.as_str().to_owned()))?;
        if stored_epoch != epoch {
            // The org moved on since the caller read its row: a retry reads both anew.
            return Err(StoreError::Corrupt(format!("org {org}: key epoch {epoch} asked, {stored_epoch} stored")));
        }
        let key = Arc::new(self.open(org, epoch, &wrapped)?);
        let mut cache = self.cache.lock().map_err(poisoned)?;
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(org.as_str().to_owned(), (epoch, key.clone()));
        Ok(key)
    }

    fn open(&self, org: &OrgSlug, epoch: u32, wrapped: &str) -> Result<OrgKey, StoreError> {
        let wrapped: Wrapped = stored("orgs.key_wrapped", wrapped.parse())?;
        self.masters.unwrap_org_key(org, epoch, &wrapped).map_err(|e| match e {
            KeyError::UnknownKeyId(_, id) => StoreError::MasterKeyMissing { id, orgs: 1 },
            other => StoreError::Corrupt(format!("org {org}: its key does not open: {other}")),
        })
    }

    /// The embed secret of `credential`'s `generation` (a live one): sealed
    /// in its row when it predates the hierarchy, else derived from its org's key.
    pub async fn secret(
        &self,
        conn: &mut AnyConnection,
        credential: &Credential,
        generation: u32,
    ) -> Result<EmbedSecret, StoreError> {
        let key = self.org_key(conn, &credential.org, credential.key_epoch).await?;
        secret_of(&key, credential, generation)
    }

    /// `credential`'s live secrets wrapped under `edge` for the edges; for a
    /// credential that signs with a public key, its live public keys as they
    /// are (not secret; the push body is authenticated).
    pub async fn edge_secrets(
        &self,
        conn: &mut AnyConnection,
        credential: &Credential,
        edge: &EdgeKey,
    ) -> Result<Vec<SecretGeneration>, StoreError> {
        if credential.is_public_key() {
            return public_generations(credential);
        }
        let key = self.org_key(conn, &credential.org, credential.key_epoch).await?;
        credential
            .live_generations()
            .into_iter()
            .map(|generation| {
                let secret = secret_of(&key, credential, generation)?;
                let wrapped =
                    edge.wrap_secret(&credential.org, &credential.client_id, generation, &secret).map_err(key_error)?;
                Ok(SecretGeneration::wrapped(generation, wrapped))
            })
            .collect()
    }

    fn forget(&self, org: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(org);
        }
    }
}

/// The live public keys of a credential that signs with one, each its own generation.
fn public_generations(c: &Credential) -> Result<Vec<SecretGeneration>, StoreError> {
    let keys = c.public_keys();
    if keys.len() != c.live_generations().len() {
        return Err(StoreError::Corrupt(format!("credential {}: a live generation has no public key", c.client_id)));
    }
    Ok(keys.into_iter().map(|(generation, key)| SecretGeneration::public(generation, key.clone())).collect())
}

fn secret_of(key: &OrgKey, c: &Credential, generation: u32) -> Result<EmbedSecret, StoreError> {
    if c.is_public_key() {
        return Err(StoreError::Corrupt(format!(
            "credential {}: it signs with a public key, it has no secret",
            c.client_id
        )));
    }
    let sealed = if generation == c.current_generation {
        c.sealed_current.as_ref()
    } else if Some(generation) == c.previous_generation {
        c.sealed_previous.as_ref()
    } else {
        return Err(StoreError::Corrupt(format!("credential {}: generation {generation} is not live", c.client_id)));
    };
    match (sealed, c.kdf) {
        (Some(sealed), _) => key
            .open_secret(&c.org, &c.client_id, generation, sealed)
            .map_err(|e| StoreError::Corrupt(format!("credential {}: sealed secret: {e}", c.client_id))),
        (None, Kdf::V2) => Ok(key.derive_embed_secret(&c.org, &c.client_id, generation)),
        (None, _) => Err(StoreError::Corrupt(format!(
            "credential {}: a v1 secret that was never sealed (start `embedgate serve` once with the original master key)",
            c.client_id
        ))),
    }
}

#[allow(clippy::needless_pass_by_value, reason = "used as map_err(key_error)")]
fn key_error(e: KeyError) -> StoreError {
    StoreError::Corrupt(format!("key material: {e}"))
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Corrupt("the org key cache lock is poisoned".into())
}

fn epoch_of(value: i64) -> Result<u32, StoreError> {
    stored("orgs.key_epoch", u32::try_from(value))
}

impl Change {
    /// The current secret of `credential` (just created or rotated in this
    /// change), derived inside the transaction so it is the one committed.
    pub async fn current_secret(&mut self, keys: &Keys, credential: &Credential) -> Result<EmbedSecret, StoreError> {
        keys.secret(self.conn(), credential, credential.current_generation).await
    }

    /// Gives this change's org its first key material (epoch 1), wrapped
    /// under the current master key. Part of creating an org.
    pub(super) async fn set_first_org_key(&mut self, keys: &Keys) -> Result<(), StoreError> {
        let org: OrgSlug = stored("orgs.slug", self.org().parse())?;
        let (_, wrapped) = keys.new_org_key(&org, 1)?;
        sqlx::query("UPDATE orgs SET key_epoch = 1, key_wrapped = $1, key_master = $2 WHERE slug = $3")
            .bind(wrapped.to_string())
            .bind(keys.masters.current_id().to_string())
            .bind(org.as_str())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Emergency rotation: moves this change's org to new key material. Every
    /// credential with a secret gets a new secret generation derived from it
    /// and loses its others (the old secrets stop verifying as soon as the
    /// edges have the change); the old key is overwritten. Credentials that
    /// sign with a public key are left alone: nothing of theirs derives from
    /// the org key.
    pub async fn rotate_org_key(&mut self, keys: &Keys) -> Result<OrgKeyRotated, StoreError> {
        let org: OrgSlug = stored("orgs.slug", self.org().parse())?;
        let current: i64 = sqlx::query_scalar("SELECT key_epoch FROM orgs WHERE slug = $1")
            .bind(org.as_str())
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound("org"))?;
        let epoch = epoch_of(current)?.checked_add(1).ok_or_else(|| StoreError::Corrupt("org key epoch".into()))?;
        let (key, wrapped) = keys.new_org_key(&org, epoch)?;
        sqlx::query("UPDATE orgs SET key_epoch = $1, key_wrapped = $2, key_master = $3 WHERE slug = $4")
            .bind(i64::from(epoch))
            .bind(wrapped.to_string())
            .bind(keys.masters.current_id().to_string())
            .bind(org.as_str())
            .execute(self.conn())
            .await?;
        // Every credential with a secret, revoked ones too, moves to a fresh
        // generation: nothing derived from the old key stays live anywhere.
        sqlx::query(
            "UPDATE credentials SET current_generation = current_generation + 1, previous_generation = NULL, \
             kdf = 'v2', sealed_current = NULL, sealed_previous = NULL WHERE org = $1 \
             AND NOT EXISTS (SELECT 1 FROM credential_public_keys k WHERE k.client_id = credentials.client_id)",
        )
        .bind(org.as_str())
        .execute(self.conn())
        .await?;
        keys.forget(org.as_str());
        let all = super::credentials::all_of(self.conn(), org.as_str()).await?;
        let mut rotated = OrgKeyRotated { epoch, rotated: Vec::with_capacity(all.len()), public_key: Vec::new() };
        for c in all {
            if c.is_public_key() {
                rotated.public_key.push(c);
                continue;
            }
            self.touch(super::change::Touched::Credential(c.client_id.as_str().to_owned()));
            let secret =
                (c.revoked_at.is_none()).then(|| key.derive_embed_secret(&org, &c.client_id, c.current_generation));
            rotated.rotated.push((c, secret));
        }
        Ok(rotated)
    }
}

/// What [`Change::rotate_org_key`] did.
#[derive(Debug)]
pub struct OrgKeyRotated {
    /// The org key's new epoch.
    pub epoch: u32,
    /// The credentials with a secret, moved to a new generation: each live
    /// one with its new secret (shown once), revoked ones without.
    pub rotated: Vec<(Credential, Option<EmbedSecret>)>,
    /// The credentials that sign with a public key, left as they were.
    pub public_key: Vec<Credential>,
}

/// What [`prepare`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Orgs that got their first key (a database from before the hierarchy, or a new one).
    pub orgs_keyed: u64,
    /// Live v1 secrets sealed under their org's key.
    pub secrets_sealed: u64,
}

/// Checks the configured master keys against the database and upgrades it
/// when it predates the key hierarchy. Refuses ([`StoreError::MasterKeyRetired`])
/// a key `embedgate rekey` retired, and ([`StoreError::MasterKeyMissing`]) a
/// configuration that cannot open every org's key.
pub async fn prepare(store: &Store, keys: &Keys) -> Result<Prepared, StoreError> {
    for id in keys.masters.ids() {
        if let Some(by) = retired_by(store, id).await? {
            return Err(StoreError::MasterKeyRetired { id, by });
        }
    }
    // A database from before the hierarchy knows its master key by a check value.
    let check: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'master_key_check'")
        .fetch_optional(&store.pool)
        .await?;
    let legacy = match &check {
        None => None,
        Some(check) => Some(
            keys.masters
                .iter()
                .find(|(_, k)| super::master_key_check(k) == *check)
                .map(|(_, k)| k.clone())
                .ok_or(StoreError::MasterKeyMismatch)?,
        ),
    };
    let mut prepared = Prepared::default();
    loop {
        let unkeyed: Vec<String> =
            sqlx::query_scalar("SELECT slug FROM orgs WHERE key_wrapped IS NULL ORDER BY slug LIMIT 100")
                .fetch_all(&store.pool)
                .await?;
        if unkeyed.is_empty() {
            break;
        }
        for org in unkeyed {
            let mut change = store.change(&org, "embedgate-upgrade").await?;
            let sealed = change.key_unkeyed_org(keys, legacy.as_ref()).await?;
            if let Some(sealed) = sealed {
                change.commit(Event::OrgKeyCreated { master_key: keys.masters.current_id(), sealed }).await?;
                prepared.orgs_keyed += 1;
                prepared.secrets_sealed += sealed;
            }
        }
    }
    if check.is_some() {
        sqlx::query("DELETE FROM settings WHERE name = 'master_key_check'").execute(&store.pool).await?;
    }
    let holders =
        sqlx::query("SELECT key_master, COUNT(*) AS n FROM orgs WHERE key_master IS NOT NULL GROUP BY key_master")
            .fetch_all(&store.pool)
            .await?;
    for row in holders {
        let id: String = row.try_get("key_master")?;
        let id: KeyId = stored("orgs.key_master", id.parse())?;
        if keys.masters.get(id).is_none() {
            return Err(StoreError::MasterKeyMissing { id, orgs: row.try_get("n")? });
        }
    }
    Ok(prepared)
}

/// The id of the key that replaced `id`, if `id` was retired.
async fn retired_by(store: &Store, id: KeyId) -> Result<Option<KeyId>, StoreError> {
    let by: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(format!("{RETIRED}{id}"))
        .fetch_optional(&store.pool)
        .await?;
    by.map(|b| stored("settings.master_key_retired", b.parse())).transpose()
}

impl Change {
    /// Gives this change's org its first key if it has none yet (another
    /// replica may have been first: then `None`), sealing its live v1
    /// secrets with `legacy`, the master key they were derived from.
    async fn key_unkeyed_org(&mut self, keys: &Keys, legacy: Option<&MasterKey>) -> Result<Option<u64>, StoreError> {
        let org: OrgSlug = stored("orgs.slug", self.org().parse())?;
        let (key, wrapped) = keys.new_org_key(&org, 1)?;
        let done = sqlx::query(
            "UPDATE orgs SET key_epoch = 1, key_wrapped = $1, key_master = $2 WHERE slug = $3 AND key_wrapped IS NULL",
        )
        .bind(wrapped.to_string())
        .bind(keys.masters.current_id().to_string())
        .bind(org.as_str())
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT client_id, current_generation, previous_generation FROM credentials WHERE org = $1 AND kdf = 'v1'",
        )
        .bind(org.as_str())
        .fetch_all(self.conn())
        .await?;
        if !rows.is_empty() && legacy.is_none() {
            return Err(StoreError::Corrupt(format!(
                "org {org} has v1 credentials but the database has no record of their master key"
            )));
        }
        let mut sealed = 0;
        for row in rows {
            let client_id: ClientId = stored("credentials.client_id", row.try_get::<String, _>("client_id")?.parse())?;
            let current =
                stored("credentials.current_generation", u32::try_from(row.try_get::<i64, _>("current_generation")?))?;
            let previous = row
                .try_get::<Option<i64>, _>("previous_generation")?
                .map(|g| stored("credentials.previous_generation", u32::try_from(g)))
                .transpose()?;
            let seal = |generation: u32| -> Result<String, StoreError> {
                let master = legacy.ok_or_else(|| StoreError::Corrupt("no legacy master key".into()))?;
                let secret = master
                    .derive_v1_embed_secret(Kdf::V1, &client_id, generation)
                    .ok_or_else(|| StoreError::Corrupt("v1 derivation".into()))?;
                Ok(key.seal_secret(&org, &client_id, generation, &secret).map_err(key_error)?.to_string())
            };
            let sealed_current = seal(current)?;
            let sealed_previous = previous.map(seal).transpose()?;
            sqlx::query(
                "UPDATE credentials SET kdf = 'v2', sealed_current = $1, sealed_previous = $2 WHERE client_id = $3",
            )
            .bind(sealed_current)
            .bind(sealed_previous)
            .bind(client_id.as_str())
            .execute(self.conn())
            .await?;
            sealed += 1 + u64::from(previous.is_some());
        }
        Ok(Some(sealed))
    }
}

/// Progress of [`rekey`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Org keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Org keys still wrapped under another key when it began.
    pub total: u64,
    /// The master keys retired at the end.
    pub retired: Vec<KeyId>,
}

/// Re-wraps every org key under `new` (which becomes the current master
/// key), a batch of orgs per transaction, each org audited; then records
/// every other key that wrapped them as retired, so `serve` refuses it.
/// `old` must open every org key not yet under `new`. Interrupted, it is run
/// again with the same keys and carries on where it stopped; the org keys,
/// and so every embed secret, are unchanged throughout. `progress` hears of
/// each batch.
pub async fn rekey(
    store: &Store,
    old: &KeySet<MasterKey>,
    new: &MasterKey,
    mut progress: impl FnMut(Rekeyed),
) -> Result<Rekeyed, StoreError> {
    use embedgate_core::keys::NamedKey;
    let new_id = new.id();
    if let Some(by) = retired_by(store, new_id).await? {
        return Err(StoreError::MasterKeyRetired { id: new_id, by });
    }
    let both = KeySet::from_keys(
        std::iter::once(new.clone())
            .chain(old.iter().filter(|(id, _)| *id != new_id).map(|(_, k)| k.clone()))
            .collect(),
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Noted first, so a run interrupted after the last re-wrap (and re-run
    // with only the new key) still retires the keys it replaced.
    for (id, _) in old.iter().filter(|(id, _)| *id != new_id) {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2")
            .bind(format!("{RETIRING}{id}"))
            .bind(new_id.to_string())
            .execute(&store.pool)
            .await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orgs WHERE key_master IS NOT NULL AND key_master <> $1")
        .bind(new_id.to_string())
        .fetch_one(&store.pool)
        .await?;
    let mut done = Rekeyed { rewrapped: 0, total: u64::try_from(total).unwrap_or(0), retired: Vec::new() };
    let mut retired: Vec<KeyId> = Vec::new();
    loop {
        let mut change = store.change("", "embedgate-rekey").await?;
        let rows = sqlx::query(
            "SELECT slug, key_epoch, key_wrapped, key_master FROM orgs \
             WHERE key_master IS NOT NULL AND key_master <> $1 ORDER BY slug LIMIT $2",
        )
        .bind(new_id.to_string())
        .bind(REKEY_BATCH)
        .fetch_all(change.conn())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let org: OrgSlug = stored("orgs.slug", row.try_get::<String, _>("slug")?.parse())?;
            let epoch = epoch_of(row.try_get("key_epoch")?)?;
            let from: KeyId = stored("orgs.key_master", row.try_get::<String, _>("key_master")?.parse())?;
            let wrapped: Wrapped = stored("orgs.key_wrapped", row.try_get::<String, _>("key_wrapped")?.parse())?;
            let key = both.unwrap_org_key(&org, epoch, &wrapped).map_err(|e| match e {
                KeyError::UnknownKeyId(_, id) => StoreError::MasterKeyMissing { id, orgs: 1 },
                other => StoreError::Corrupt(format!("org {org}: its key does not open: {other}")),
            })?;
            let rewrapped = new.wrap_org_key(&org, epoch, &key).map_err(key_error)?;
            sqlx::query("UPDATE orgs SET key_wrapped = $1, key_master = $2 WHERE slug = $3 AND key_master = $4")
                .bind(rewrapped.to_string())
                .bind(new_id.to_string())
                .bind(org.as_str())
                .bind(from.to_string())
                .execute(change.conn())
                .await?;
            change.also_audit(org.as_str(), Event::OrgKeyRewrapped { from, to: new_id });
            if !retired.contains(&from) {
                retired.push(from);
            }
            done.rewrapped += 1;
        }
        change.commit_batch().await?;
        progress(done.clone());
    }
    // Every key replaced by the new one is retired now: the ones this run
    // moved orgs away from, and the ones noted by this or an earlier run.
    let noted: Vec<String> = sqlx::query_scalar("SELECT name FROM settings WHERE name LIKE $1 AND value = $2")
        .bind(format!("{RETIRING}%"))
        .bind(new_id.to_string())
        .fetch_all(&store.pool)
        .await?;
    for name in &noted {
        let id: KeyId = stored("settings.master_key_retiring", name.trim_start_matches(RETIRING).parse())?;
        if !retired.contains(&id) {
            retired.push(id);
        }
    }
    let mut tx = store.pool.begin().await?;
    for id in &retired {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(format!("{RETIRED}{id}"))
            .bind(new_id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    for name in noted {
        sqlx::query("DELETE FROM settings WHERE name = $1").bind(name).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    done.retired = retired;
    Ok(done)
}

/// The master key ids that wrap org keys now, with how many each (for `embedgate keys status`).
pub async fn holders(store: &Store) -> Result<Vec<(KeyId, i64)>, StoreError> {
    sqlx::query("SELECT key_master, COUNT(*) AS n FROM orgs WHERE key_master IS NOT NULL GROUP BY key_master ORDER BY key_master")
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|row| Ok((stored("orgs.key_master", row.try_get::<String, _>("key_master")?.parse())?, row.try_get("n")?)))
        .collect()
}
