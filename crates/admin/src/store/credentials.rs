//! Embed credentials: the stored row (never a secret in the clear: the
//! generation numbers secrets are derived from with the org's key, and
//! pre-hierarchy secrets sealed under it), its status and edge record,
//! reads, and the changes that create, edit, rotate, retire and revoke.
//!
//! A credential created with a host app's public key (ES256 or EdDSA) has no
//! secret: each live generation's public key is a row of
//! `credential_public_keys`, read with the credential, and rotation takes
//! the next one. A credential is one kind or the other for life.

use embedgate_core::rules::{
    AllowedOrigins, CredentialName, CredentialPatch, CredentialStatus, Description, Email, MemberStatus, NewCredential,
    Patch, Privileges, TokenLifetime,
};
use embedgate_core::sync::Usage;
use embedgate_core::{
    AccountType, Algorithm, ClientId, EdgeCredential, Kdf, OrgSlug, Policy, PublicJwk, SecretGeneration, Wrapped,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::change::Touched;
use super::{is_unique_violation, members, stored, Change, StoreError};

/// A credential as stored, with its owner's current standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The public client ID (the tokens' `kid`).
    pub client_id: ClientId,
    /// Its org.
    pub org: OrgSlug,
    /// Its name, unique in the org.
    pub name: CredentialName,
    /// Its description.
    pub description: Option<Description>,
    /// Its owner's email.
    pub owner: Email,
    /// The owner's account type now (`None`: the owner's row is missing).
    pub owner_account_type: Option<AccountType>,
    /// The owner's status now (a missing owner counts as deactivated).
    pub owner_status: MemberStatus,
    /// What it may be used for.
    pub privileges: Privileges,
    /// Unix seconds.
    pub created_at: i64,
    /// The admin who created it.
    pub created_by: String,
    /// When it was revoked (Unix seconds).
    pub revoked_at: Option<i64>,
    /// The admin who revoked it.
    pub revoked_by: Option<String>,
    /// The last embed load an edge reported (Unix seconds).
    pub last_used_at: Option<i64>,
    /// The derivation its secrets use.
    pub kdf: Kdf,
    /// The current secret generation.
    pub current_generation: u32,
    /// The previous generation, live until retired.
    pub previous_generation: Option<u32>,
    /// The current generation's secret sealed under the org key, when it
    /// cannot be derived (issued before the key hierarchy).
    pub sealed_current: Option<Wrapped>,
    /// The same for the previous generation.
    pub sealed_previous: Option<Wrapped>,
    /// The epoch of the org key its secrets derive from (the org's now).
    pub key_epoch: u32,
    /// Pages allowed to frame its embeds (empty: any).
    pub allowed_origins: AllowedOrigins,
    /// Its own token-lifetime limit.
    pub max_token_lifetime_s: Option<TokenLifetime>,
    /// Tokens issued before it are refused (Unix seconds).
    pub not_before_cutoff: Option<i64>,
    /// The state version of its last change.
    pub version: u64,
    /// The current generation's public key (a credential that signs with a
    /// key pair; `None`: it signs with a generated secret).
    pub public_current: Option<PublicJwk>,
    /// The previous generation's public key, live until retired.
    pub public_previous: Option<PublicJwk>,
}

const COLUMNS: &str =
    "c.client_id, c.org, c.name, c.description, c.owner_email, m.account_type AS owner_account_type, \
     m.status AS owner_status, c.privileges, c.created_at, c.created_by, c.revoked_at, c.revoked_by, \
     c.last_used_at, c.kdf, c.current_generation, c.previous_generation, c.sealed_current, c.sealed_previous, \
     o.key_epoch, c.allowed_origins, c.max_token_lifetime_s, c.not_before_cutoff, c.version, \
     pc.jwk AS public_current, pp.jwk AS public_previous";

const FROM: &str = "FROM credentials c JOIN orgs o ON o.slug = c.org \
                    LEFT JOIN members m ON m.org = c.org AND m.email = c.owner_email \
                    LEFT JOIN credential_public_keys pc \
                      ON pc.client_id = c.client_id AND pc.generation = c.current_generation \
                    LEFT JOIN credential_public_keys pp \
                      ON pp.client_id = c.client_id AND pp.generation = c.previous_generation";

/// A stored public key (canonical JWK text) of `column`.
fn public_key(row: &AnyRow, column: &str) -> Result<Option<PublicJwk>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .map(|jwk| stored("credential_public_keys.jwk", PublicJwk::parse(&jwk)))
        .transpose()
}

fn generation(column: &str, value: i64) -> Result<u32, StoreError> {
    stored(column, u32::try_from(value))
}

impl Credential {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get::<String, _>(column)?) };
        let kdf = match text("kdf")?.as_str() {
            "v1" => Kdf::V1,
            "v2" => Kdf::V2,
            other => return Err(StoreError::Corrupt(format!("credentials.kdf: {other:?}"))),
        };
        Ok(Self {
            client_id: stored("credentials.client_id", text("client_id")?.parse())?,
            org: stored("credentials.org", text("org")?.parse())?,
            name: stored("credentials.name", CredentialName::parse(&text("name")?))?,
            description: row
                .try_get::<Option<String>, _>("description")?
                .map(|d| stored("credentials.description", Description::parse(&d)))
                .transpose()?,
            owner: stored("credentials.owner_email", Email::parse(&text("owner_email")?))?,
            owner_account_type: row
                .try_get::<Option<String>, _>("owner_account_type")?
                .map(|t| stored("members.account_type", t.parse()))
                .transpose()?,
            owner_status: row
                .try_get::<Option<String>, _>("owner_status")?
                .and_then(|s| MemberStatus::from_name(&s))
                .unwrap_or(MemberStatus::Deactivated),
            privileges: stored("credentials.privileges", serde_json::from_str(&text("privileges")?))?,
            created_at: row.try_get("created_at")?,
            created_by: text("created_by")?,
            revoked_at: row.try_get("revoked_at")?,
            revoked_by: row.try_get("revoked_by")?,
            last_used_at: row.try_get("last_used_at")?,
            kdf,
            current_generation: generation("credentials.current_generation", row.try_get("current_generation")?)?,
            previous_generation: row
                .try_get::<Option<i64>, _>("previous_generation")?
                .map(|g| generation("credentials.previous_generation", g))
                .transpose()?,
            sealed_current: row
                .try_get::<Option<String>, _>("sealed_current")?
                .map(|w| stored("credentials.sealed_current", w.parse()))
                .transpose()?,
            sealed_previous: row
                .try_get::<Option<String>, _>("sealed_previous")?
                .map(|w| stored("credentials.sealed_previous", w.parse()))
                .transpose()?,
            key_epoch: stored("orgs.key_epoch", u32::try_from(row.try_get::<i64, _>("key_epoch")?))?,
            allowed_origins: stored("credentials.allowed_origins", serde_json::from_str(&text("allowed_origins")?))?,
            max_token_lifetime_s: row
                .try_get::<Option<i64>, _>("max_token_lifetime_s")?
                .map(|s| stored("credentials.max_token_lifetime_s", TokenLifetime::new(s)))
                .transpose()?,
            not_before_cutoff: row.try_get("not_before_cutoff")?,
            version: stored("credentials.version", u64::try_from(row.try_get::<i64, _>("version")?))?,
            public_current: public_key(row, "public_current")?,
            public_previous: public_key(row, "public_previous")?,
        })
    }

    /// Whether it signs with a host app's key pair (it holds public keys, no secret).
    pub fn is_public_key(&self) -> bool {
        self.public_current.is_some()
    }

    /// The algorithm of its current generation's tokens.
    pub fn algorithm(&self) -> Algorithm {
        self.public_current.as_ref().map_or(Algorithm::Hs256, PublicJwk::algorithm)
    }

    /// The live generations' public keys, current first (none for a secret credential).
    pub fn public_keys(&self) -> Vec<(u32, &PublicJwk)> {
        let current = self.public_current.as_ref().map(|k| (self.current_generation, k));
        let previous = self.previous_generation.zip(self.public_previous.as_ref());
        current.into_iter().chain(previous).collect()
    }

    /// Its status (core decides: revoked wins, then the owner's standing).
    pub fn status(&self) -> CredentialStatus {
        CredentialStatus::of(self.revoked_at.is_some(), self.owner_status)
    }

    /// The live secret generations, current first.
    pub fn live_generations(&self) -> Vec<u32> {
        std::iter::once(self.current_generation).chain(self.previous_generation).collect()
    }

    /// The record the edges hold, with its live `secrets` wrapped for them
    /// ([`super::keys::Keys::edge_secrets`]): everything but the owner's
    /// standing, which travels on its own ([`super::members::Member::edge_owner`]).
    pub fn edge_record(&self, secrets: Vec<SecretGeneration>) -> EdgeCredential {
        EdgeCredential {
            client_id: self.client_id.clone(),
            owner: self.owner.as_str().to_owned(),
            privileges: self.privileges.as_set().clone(),
            secrets,
            policy: Policy {
                allowed_origins: self.allowed_origins.clone(),
                max_token_lifetime_s: self.max_token_lifetime_s,
                not_before_cutoff: self.not_before_cutoff,
            },
            revoked_at: self.revoked_at,
            version: self.version,
        }
    }
}

/// One credential of the org.
pub async fn get(conn: &mut AnyConnection, org: &str, client_id: &ClientId) -> Result<Option<Credential>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} {FROM} WHERE c.org = $1 AND c.client_id = $2"))
        .bind(org)
        .bind(client_id.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(Credential::from_row)
        .transpose()
}

/// The credential with this client ID, whatever its org (client IDs are
/// unique across orgs): how the OAuth grant finds the client it authenticates.
pub async fn find(conn: &mut AnyConnection, client_id: &ClientId) -> Result<Option<Credential>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} {FROM} WHERE c.client_id = $1"))
        .bind(client_id.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(Credential::from_row)
        .transpose()
}

/// A page of an org's credentials.
#[derive(Debug, Clone)]
pub struct Page {
    /// In creation order.
    pub credentials: Vec<Credential>,
    /// The cursor of the next page (`None` on the last).
    pub next: Option<ClientId>,
}

/// At most `limit` credentials of the org after the one `after` names, in
/// the stable order (created_at, client_id): keyset paging served by the
/// index `credentials_by_org_page`, so a page costs O(limit) whatever the
/// org's size. [`StoreError::NotFound`]`("cursor")` when `after` is not the org's.
pub async fn page(
    conn: &mut AnyConnection,
    org: &str,
    after: Option<&ClientId>,
    limit: i64,
) -> Result<Page, StoreError> {
    let (after_at, after_id) = match after {
        None => (i64::MIN, String::new()),
        Some(id) => {
            let at: i64 = sqlx::query_scalar("SELECT created_at FROM credentials WHERE org = $1 AND client_id = $2")
                .bind(org)
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound("cursor"))?;
            (at, id.as_str().to_owned())
        }
    };
    // One row more than the page tells whether there is a next page.
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM} WHERE c.org = $1 AND (c.created_at, c.client_id) > ($2, $3) \
         ORDER BY c.created_at, c.client_id LIMIT $4"
    ))
    .bind(org)
    .bind(after_at)
    .bind(after_id)
    .bind(limit.saturating_add(1))
    .fetch_all(conn)
    .await?;
    let mut credentials = rows.iter().map(Credential::from_row).collect::<Result<Vec<_>, _>>()?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = credentials.len() > page;
    credentials.truncate(page);
    let next = if more { credentials.last().map(|c| c.client_id.clone()) } else { None };
    Ok(Page { credentials, next })
}

/// Live and revoked credentials over every org (`/metrics`).
pub async fn counts(pool: &AnyPool) -> Result<(i64, i64), StoreError> {
    let live: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE revoked_at IS NULL").fetch_one(pool).await?;
    let revoked: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE revoked_at IS NOT NULL").fetch_one(pool).await?;
    Ok((live, revoked))
}

/// Records the credential use an edge reported (`last_used_at` only ever
/// moves forward). Not a [`Change`]: no edge reads it and no member acted,
/// so it is neither audited nor versioned.
pub async fn record_usage(pool: &AnyPool, usage: &[Usage]) -> Result<(), StoreError> {
    for row in usage {
        sqlx::query(
            "UPDATE credentials SET last_used_at = $1 WHERE client_id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(row.last_used_at)
        .bind(&row.client_id)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// A column's new value, as stored (lists as JSON text).
enum Stored {
    Text(Option<String>),
    Int(Option<i64>),
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Change {
    async fn current(&mut self, client_id: &ClientId) -> Result<Credential, StoreError> {
        let org = self.org().to_owned();
        get(self.conn(), &org, client_id).await?.ok_or(StoreError::NotFound("credential"))
    }

    /// Creates a credential in this change's org, created by its actor, with
    /// generation 1: a secret derived from the org key or, when `new` has a
    /// `public_key`, that key. The owner must be an active member
    /// ([`StoreError::NotFound`]`("owner")`); the name must be free ([`StoreError::NameTaken`]).
    pub async fn create_credential(
        &mut self,
        client_id: &ClientId,
        new: &NewCredential,
        at: i64,
    ) -> Result<Credential, StoreError> {
        let (org, actor) = (self.org().to_owned(), self.actor().to_owned());
        if !members::is_active(self.conn(), &org, &new.owner).await? {
            return Err(StoreError::NotFound("owner"));
        }
        let inserted = sqlx::query(
            "INSERT INTO credentials (client_id, org, name, description, owner_email, privileges, created_at, \
             created_by, kdf, current_generation, allowed_origins, max_token_lifetime_s, not_before_cutoff) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'v2', 1, $9, $10, $11)",
        )
        .bind(client_id.as_str())
        .bind(&org)
        .bind(new.name.as_str())
        .bind(new.description.as_ref().map(Description::as_str))
        .bind(new.owner.as_str())
        .bind(json_text(&new.privileges)?)
        .bind(at)
        .bind(&actor)
        .bind(json_text(&new.allowed_origins)?)
        .bind(new.max_token_lifetime_s.map(|l| i64::try_from(l.seconds()).unwrap_or(i64::MAX)))
        .bind(new.not_before_cutoff.map(embedgate_core::rules::Cutoff::unix))
        .execute(self.conn())
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::NameTaken),
            other => {
                other?;
            }
        }
        if let Some(key) = &new.public_key {
            self.insert_public_key(client_id, 1, key, at).await?;
        }
        self.touch(Touched::Credential(client_id.as_str().to_owned()));
        self.current(client_id).await
    }

    /// Stores `key` as `client_id`'s public key of `generation`.
    async fn insert_public_key(
        &mut self,
        client_id: &ClientId,
        generation: u32,
        key: &PublicJwk,
        at: i64,
    ) -> Result<(), StoreError> {
        let org = self.org().to_owned();
        sqlx::query(
            "INSERT INTO credential_public_keys (org, client_id, generation, jwk, thumbprint, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&org)
        .bind(client_id.as_str())
        .bind(i64::from(generation))
        .bind(key.canonical_json())
        .bind(key.thumbprint())
        .bind(at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Applies `patch` to a live credential; the names of the fields that
    /// really changed come back (none: nothing to record or push).
    pub async fn update_credential(
        &mut self,
        client_id: &ClientId,
        patch: &CredentialPatch,
    ) -> Result<(Credential, Vec<&'static str>), StoreError> {
        let current = self.current(client_id).await?;
        if current.revoked_at.is_some() {
            return Err(StoreError::CredentialRevoked);
        }
        let lifetime = |l: &TokenLifetime| i64::try_from(l.seconds()).unwrap_or(i64::MAX);
        let mut changed: Vec<(&'static str, Stored)> = Vec::new();
        if let Some(name) = patch.name.as_ref().filter(|n| **n != current.name) {
            changed.push(("name", Stored::Text(Some(name.as_str().to_owned()))));
        }
        match &patch.description {
            Patch::Set(d) if current.description.as_ref() != Some(d) => {
                changed.push(("description", Stored::Text(Some(d.as_str().to_owned()))));
            }
            Patch::Clear if current.description.is_some() => changed.push(("description", Stored::Text(None))),
            _ => {}
        }
        if let Some(p) = patch.privileges.as_ref().filter(|p| **p != current.privileges) {
            changed.push(("privileges", Stored::Text(Some(json_text(p)?))));
        }
        let origins = match &patch.allowed_origins {
            Patch::Set(o) => Some(o.clone()),
            Patch::Clear => Some(AllowedOrigins::default()),
            Patch::Keep => None,
        };
        if let Some(o) = origins.filter(|o| *o != current.allowed_origins) {
            changed.push(("allowed_origins", Stored::Text(Some(json_text(&o)?))));
        }
        match &patch.max_token_lifetime_s {
            Patch::Set(l) if current.max_token_lifetime_s != Some(*l) => {
                changed.push(("max_token_lifetime_s", Stored::Int(Some(lifetime(l)))));
            }
            Patch::Clear if current.max_token_lifetime_s.is_some() => {
                changed.push(("max_token_lifetime_s", Stored::Int(None)));
            }
            _ => {}
        }
        match &patch.not_before_cutoff {
            Patch::Set(c) if current.not_before_cutoff != Some(c.unix()) => {
                changed.push(("not_before_cutoff", Stored::Int(Some(c.unix()))));
            }
            Patch::Clear if current.not_before_cutoff.is_some() => {
                changed.push(("not_before_cutoff", Stored::Int(None)));
            }
            _ => {}
        }
        if changed.is_empty() {
            return Ok((current, Vec::new()));
        }
        // Column names come from the fixed list above, never from the request.
        let sets: Vec<String> =
            changed.iter().enumerate().map(|(i, (column, _))| format!("{column} = ${}", i + 1)).collect();
        let sql = format!(
            "UPDATE credentials SET {} WHERE org = ${} AND client_id = ${}",
            sets.join(", "),
            changed.len() + 1,
            changed.len() + 2
        );
        let mut query = sqlx::query(&sql);
        for (_, value) in &changed {
            query = match value {
                Stored::Text(v) => query.bind(v.clone()),
                Stored::Int(v) => query.bind(*v),
            };
        }
        let org = self.org().to_owned();
        match query.bind(&org).bind(client_id.as_str()).execute(self.conn()).await {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::NameTaken),
            other => {
                other?;
            }
        }
        self.touch(Touched::Credential(client_id.as_str().to_owned()));
        let fields = changed.iter().map(|(column, _)| *column).collect();
        Ok((self.current(client_id).await?, fields))
    }

    /// Revokes a credential for good, by this change's actor.
    pub async fn revoke_credential(&mut self, client_id: &ClientId, at: i64) -> Result<Credential, StoreError> {
        let (org, actor) = (self.org().to_owned(), self.actor().to_owned());
        let done = sqlx::query(
            "UPDATE credentials SET revoked_at = $1, revoked_by = $2 \
             WHERE org = $3 AND client_id = $4 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(&actor)
        .bind(&org)
        .bind(client_id.as_str())
        .execute(self.conn())
        .await?;
        let credential = self.current(client_id).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyRevoked);
        }
        self.touch(Touched::Credential(client_id.as_str().to_owned()));
        Ok(credential)
    }

    /// Makes a new generation current: a new secret or, for a credential
    /// that signs with a public key, `public_key` (required there:
    /// [`StoreError::PublicKeyRequired`]; refused for a secret credential:
    /// [`StoreError::SecretCredential`]; the current key again:
    /// [`StoreError::SamePublicKey`]). The old generation stays live as the
    /// previous until retired ([`StoreError::RetireFirst`] while two are live).
    pub async fn rotate_credential(
        &mut self,
        client_id: &ClientId,
        public_key: Option<&PublicJwk>,
        at: i64,
    ) -> Result<Credential, StoreError> {
        let current = self.current(client_id).await?;
        if current.revoked_at.is_some() {
            return Err(StoreError::CredentialRevoked);
        }
        match (&current.public_current, public_key) {
            (Some(_), None) => return Err(StoreError::PublicKeyRequired),
            (None, Some(_)) => return Err(StoreError::SecretCredential),
            (Some(old), Some(new)) if old.thumbprint() == new.thumbprint() => return Err(StoreError::SamePublicKey),
            _ => {}
        }
        let rotated = self
            .live_change(
                client_id,
                "UPDATE credentials SET previous_generation = current_generation, \
                 current_generation = current_generation + 1, sealed_previous = sealed_current, sealed_current = NULL \
                 WHERE org = $1 AND client_id = $2 AND revoked_at IS NULL AND previous_generation IS NULL",
                StoreError::RetireFirst,
            )
            .await?;
        match public_key {
            Some(key) => {
                self.insert_public_key(client_id, rotated.current_generation, key, at).await?;
                self.current(client_id).await
            }
            None => Ok(rotated),
        }
    }

    /// Deletes a revoked credential for good (its name is free again; the
    /// edges drop it). [`StoreError::RevokeFirst`] while it is not revoked.
    pub async fn delete_credential(&mut self, client_id: &ClientId) -> Result<Credential, StoreError> {
        let credential = self.current(client_id).await?;
        if credential.revoked_at.is_none() {
            return Err(StoreError::RevokeFirst);
        }
        let org = self.org().to_owned();
        sqlx::query("DELETE FROM credentials WHERE org = $1 AND client_id = $2 AND revoked_at IS NOT NULL")
            .bind(&org)
            .bind(client_id.as_str())
            .execute(self.conn())
            .await?;
        // Who used it goes with it (SECURITY.md: embed users), and so do its public keys.
        super::embed_users::forget(self.conn(), client_id.as_str()).await?;
        sqlx::query("DELETE FROM credential_public_keys WHERE client_id = $1")
            .bind(client_id.as_str())
            .execute(self.conn())
            .await?;
        self.touch(Touched::Credential(client_id.as_str().to_owned()));
        Ok(credential)
    }

    /// Retires the previous secret or public key ([`StoreError::NoPrevious`]
    /// when there is none); a retired public key is deleted.
    pub async fn retire_previous(&mut self, client_id: &ClientId) -> Result<Credential, StoreError> {
        let retired = self
            .live_change(
                client_id,
                "UPDATE credentials SET previous_generation = NULL, sealed_previous = NULL \
                 WHERE org = $1 AND client_id = $2 AND revoked_at IS NULL AND previous_generation IS NOT NULL",
                StoreError::NoPrevious,
            )
            .await?;
        sqlx::query("DELETE FROM credential_public_keys WHERE client_id = $1 AND generation <> $2")
            .bind(client_id.as_str())
            .bind(i64::from(retired.current_generation))
            .execute(self.conn())
            .await?;
        Ok(retired)
    }

    /// Runs a conditional UPDATE on a live credential; when it touches no
    /// row, says why: unknown, revoked, or `otherwise`.
    async fn live_change(
        &mut self,
        client_id: &ClientId,
        sql: &str,
        otherwise: StoreError,
    ) -> Result<Credential, StoreError> {
        let org = self.org().to_owned();
        let done = sqlx::query(sql).bind(&org).bind(client_id.as_str()).execute(self.conn()).await?;
        let credential = self.current(client_id).await?;
        if done.rows_affected() == 0 {
            return Err(if credential.revoked_at.is_some() { StoreError::CredentialRevoked } else { otherwise });
        }
        self.touch(Touched::Credential(client_id.as_str().to_owned()));
        Ok(credential)
    }
}

/// The org's credentials with client IDs after `after`, at most `limit`, in
/// client ID order (a full state's pages).
pub async fn org_slice(
    conn: &mut AnyConnection,
    org: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<Result<Credential, StoreError>>, StoreError> {
    Ok(sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM} WHERE c.org = $1 AND c.client_id > $2 ORDER BY c.client_id LIMIT $3"
    ))
    .bind(org)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(Credential::from_row)
    .collect())
}

/// Every credential of `org`, in client ID order.
pub async fn all_of(conn: &mut AnyConnection, org: &str) -> Result<Vec<Credential>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} {FROM} WHERE c.org = $1 ORDER BY c.client_id"))
        .bind(org)
        .fetch_all(conn)
        .await?
        .iter()
        .map(Credential::from_row)
        .collect()
}

/// The credentials of `org` among `ids` (a delta's page), each read on its own.
pub async fn some(
    conn: &mut AnyConnection,
    org: &str,
    ids: &[&str],
) -> Result<Vec<Result<Credential, StoreError>>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.org = $1 AND c.client_id IN ({})", placeholders.join(", "));
    let mut query = sqlx::query(&sql).bind(org);
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?.iter().map(Credential::from_row).collect())
}
