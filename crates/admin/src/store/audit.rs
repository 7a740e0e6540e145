//! The audit log: what every change records ([`Event`], written by
//! [`super::Change::commit`] alone), and its pages.

use embedgate_core::rules::{CredentialName, Email, Privileges};
use embedgate_core::{AccountType, Algorithm, ClientId};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// What a change did, as its audit entry records it (never a secret).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// `org.create`: `embedgate init` created the org and its first admin.
    OrgCreated {
        /// The first admin.
        admin: Email,
    },
    /// `member.create`.
    MemberCreated {
        /// The new member.
        email: Email,
        /// Their account type.
        account_type: AccountType,
    },
    /// `member.update`: an account type changed.
    MemberTypeChanged {
        /// The member.
        email: Email,
        /// The old type.
        from: AccountType,
        /// The new type.
        to: AccountType,
    },
    /// `member.deactivate`.
    MemberDeactivated {
        /// The member.
        email: Email,
    },
    /// `member.token_issue`.
    TokenIssued {
        /// The token's owner.
        email: Email,
        /// The token's ID (never the token).
        token_id: String,
    },
    /// `member.token_revoke`.
    TokenRevoked {
        /// The token's owner.
        email: Email,
        /// The token's ID.
        token_id: String,
    },
    /// `member.invite`: an admin gave a member a one-time invitation code.
    MemberInvited {
        /// The member.
        email: Email,
        /// The invitation's ID (never the code).
        invitation_id: String,
    },
    /// `member.invitation_redeem`: the member exchanged the code for a token of their own.
    InvitationRedeemed {
        /// The member.
        email: Email,
        /// The invitation's ID.
        invitation_id: String,
        /// The new token's ID.
        token_id: String,
    },
    /// `credential.create`.
    CredentialCreated {
        /// The new credential.
        client_id: ClientId,
        /// Its name.
        name: CredentialName,
        /// Its owner.
        owner: Email,
        /// Its privileges.
        privileges: Privileges,
        /// How its tokens are signed.
        algorithm: Algorithm,
        /// The RFC 7638 thumbprint of its public key (a credential that signs with one).
        thumbprint: Option<String>,
    },
    /// `credential.update`: the names of the fields that changed.
    CredentialUpdated {
        /// The credential.
        client_id: ClientId,
        /// The changed fields.
        fields: Vec<&'static str>,
    },
    /// `credential.revoke`.
    CredentialRevoked {
        /// The credential.
        client_id: ClientId,
    },
    /// `credential.rotate`: a new secret generation (or public key) is current.
    CredentialRotated {
        /// The credential.
        client_id: ClientId,
        /// The new current generation.
        generation: u32,
        /// How the new generation's tokens are signed.
        algorithm: Algorithm,
        /// The RFC 7638 thumbprint of the new public key (a credential that signs with one).
        thumbprint: Option<String>,
    },
    /// `credential.retire_previous`.
    PreviousSecretRetired {
        /// The credential.
        client_id: ClientId,
    },
    /// `credential.delete`: a revoked credential removed for good.
    CredentialDeleted {
        /// The credential.
        client_id: ClientId,
        /// Its name (free again).
        name: CredentialName,
    },
    /// `credential.api_token_issue`: the OAuth client-credentials grant
    /// issued the credential an API access token (the actor is the credential).
    ApiTokenIssued {
        /// The credential.
        client_id: ClientId,
        /// The access token's ID (never the token).
        token_id: String,
        /// The secret generation that authenticated the grant.
        generation: u32,
        /// When the token expires (Unix seconds).
        expires_at: i64,
    },
    /// `credential.api_token_revoke`: the credential revoked one of its access tokens (RFC 7009).
    ApiTokenRevoked {
        /// The credential.
        client_id: ClientId,
        /// The access token's ID.
        token_id: String,
    },
    /// `credential.bulk_create`: a benchmark's bulk load (`embedgate bench-load`).
    BulkLoaded {
        /// Credentials created.
        count: usize,
    },
    /// `org.settings`: where the org's replay guards live at the edge.
    HomeRegionSet {
        /// The region.
        home_region: embedgate_core::Region,
    },
    /// `org.key_create`: the org got its first key material (a new org, or
    /// the upgrade of a database from before the key hierarchy).
    OrgKeyCreated {
        /// The master key it is wrapped under.
        master_key: embedgate_core::KeyId,
        /// Live v1 secrets sealed under it by the upgrade.
        sealed: u64,
    },
    /// `org.key_rewrap`: `embedgate rekey` wrapped the org's key under a new
    /// master key (its secrets are unchanged).
    OrgKeyRewrapped {
        /// The master key it was wrapped under.
        from: embedgate_core::KeyId,
        /// The master key it is wrapped under now.
        to: embedgate_core::KeyId,
    },
    /// `org.key_rotate`: emergency rotation; the org has new key material
    /// and every credential with a secret a new secret.
    OrgKeyRotated {
        /// The org key's new epoch.
        epoch: u32,
        /// Credentials given a new secret (live ones) or moved off the old key (revoked ones).
        credentials: usize,
        /// Credentials that sign with a public key, left alone (nothing of theirs derives from the org key).
        public_key_credentials: usize,
    },
}

impl Event {
    /// The stable action name.
    pub fn action(&self) -> &'static str {
        match self {
            Self::OrgCreated { .. } => "org.create",
            Self::MemberCreated { .. } => "member.create",
            Self::MemberTypeChanged { .. } => "member.update",
            Self::MemberDeactivated { .. } => "member.deactivate",
            Self::TokenIssued { .. } => "member.token_issue",
            Self::TokenRevoked { .. } => "member.token_revoke",
            Self::MemberInvited { .. } => "member.invite",
            Self::InvitationRedeemed { .. } => "member.invitation_redeem",
            Self::CredentialCreated { .. } => "credential.create",
            Self::CredentialUpdated { .. } => "credential.update",
            Self::CredentialRevoked { .. } => "credential.revoke",
            Self::CredentialRotated { .. } => "credential.rotate",
            Self::PreviousSecretRetired { .. } => "credential.retire_previous",
            Self::CredentialDeleted { .. } => "credential.delete",
            Self::ApiTokenIssued { .. } => "credential.api_token_issue",
            Self::ApiTokenRevoked { .. } => "credential.api_token_revoke",
            Self::HomeRegionSet { .. } => "org.settings",
            Self::BulkLoaded { .. } => "credential.bulk_create",
            Self::OrgKeyCreated { .. } => "org.key_create",
            Self::OrgKeyRewrapped { .. } => "org.key_rewrap",
            Self::OrgKeyRotated { .. } => "org.key_rotate",
        }
    }

    /// What it acted on: the org (its creation), a member's email, or a client ID.
    fn target<'a>(&'a self, org: &'a str) -> &'a str {
        match self {
            Self::OrgCreated { .. }
            | Self::HomeRegionSet { .. }
            | Self::BulkLoaded { .. }
            | Self::OrgKeyCreated { .. }
            | Self::OrgKeyRewrapped { .. }
            | Self::OrgKeyRotated { .. } => org,
            Self::MemberCreated { email, .. }
            | Self::MemberTypeChanged { email, .. }
            | Self::MemberDeactivated { email }
            | Self::TokenIssued { email, .. }
            | Self::TokenRevoked { email, .. }
            | Self::MemberInvited { email, .. }
            | Self::InvitationRedeemed { email, .. } => email.as_str(),
            Self::CredentialCreated { client_id, .. }
            | Self::CredentialUpdated { client_id, .. }
            | Self::CredentialRevoked { client_id }
            | Self::CredentialRotated { client_id, .. }
            | Self::PreviousSecretRetired { client_id }
            | Self::CredentialDeleted { client_id, .. }
            | Self::ApiTokenIssued { client_id, .. }
            | Self::ApiTokenRevoked { client_id, .. } => client_id.as_str(),
        }
    }

    /// The action's details.
    fn detail(&self) -> Value {
        match self {
            Self::OrgCreated { admin } => json!({ "admin": admin }),
            Self::MemberCreated { account_type, .. } => json!({ "account_type": account_type }),
            Self::MemberTypeChanged { from, to, .. } => json!({ "account_type": { "from": from, "to": to } }),
            Self::TokenIssued { token_id, .. }
            | Self::TokenRevoked { token_id, .. }
            | Self::ApiTokenRevoked { token_id, .. } => json!({ "token_id": token_id }),
            Self::MemberInvited { invitation_id, .. } => json!({ "invitation_id": invitation_id }),
            Self::InvitationRedeemed { invitation_id, token_id, .. } => {
                json!({ "invitation_id": invitation_id, "token_id": token_id })
            }
            Self::CredentialCreated { name, owner, privileges, algorithm, thumbprint, .. } => {
                let mut detail =
                    json!({ "name": name, "owner": owner, "privileges": privileges, "algorithm": algorithm });
                with_thumbprint(&mut detail, thumbprint.as_deref());
                detail
            }
            Self::CredentialUpdated { fields, .. } => json!({ "fields": fields }),
            Self::CredentialRotated { generation, algorithm, thumbprint, .. } => {
                let mut detail = json!({ "generation": generation, "algorithm": algorithm });
                with_thumbprint(&mut detail, thumbprint.as_deref());
                detail
            }
            Self::CredentialDeleted { name, .. } => json!({ "name": name }),
            Self::ApiTokenIssued { token_id, generation, expires_at, .. } => {
                json!({ "token_id": token_id, "generation": generation, "expires_at": expires_at })
            }
            Self::HomeRegionSet { home_region } => json!({ "home_region": home_region }),
            Self::BulkLoaded { count } => json!({ "count": count }),
            Self::OrgKeyCreated { master_key, sealed } => json!({ "master_key": master_key, "sealed": sealed }),
            Self::OrgKeyRewrapped { from, to } => json!({ "master_key": { "from": from, "to": to } }),
            Self::OrgKeyRotated { epoch, credentials, public_key_credentials } => {
                json!({ "epoch": epoch, "credentials": credentials, "public_key_credentials": public_key_credentials })
            }
            Self::MemberDeactivated { .. } | Self::CredentialRevoked { .. } | Self::PreviousSecretRetired { .. } => {
                json!({})
            }
        }
    }
}

/// Adds a public key's thumbprint (the only thing of the key an entry records) to `detail`.
fn with_thumbprint(detail: &mut Value, thumbprint: Option<&str>) {
    if let (Some(t), Some(map)) = (thumbprint, detail.as_object_mut()) {
        map.insert("thumbprint".into(), t.into());
    }
}

/// Writes `event`'s entry (only [`super::Change::commit`] calls this).
pub(super) async fn insert(
    conn: &mut AnyConnection,
    org: &str,
    (actor, origin): (&str, Option<&super::Origin>),
    event: &Event,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit (org, at, actor, action, target, detail, token_id, address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(org)
    .bind(at)
    .bind(actor)
    .bind(event.action())
    .bind(event.target(org))
    .bind(event.detail().to_string())
    .bind(origin.map(|o| o.token_id.as_str()))
    .bind(origin.map(|o| o.address.as_str()))
    .execute(conn)
    .await?;
    Ok(())
}

/// One audit entry as stored.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Increasing ID (the paging cursor).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// A member's email, or `embedgate-init`.
    pub actor: String,
    /// The action ([`Event::action`]).
    pub action: String,
    /// What it acted on.
    pub target: String,
    /// Its details.
    pub detail: Value,
    /// The ID of the member token that made it (null: the command line, or before issue 14).
    pub token_id: Option<String>,
    /// The client address it came from (null as `token_id`).
    pub address: Option<String>,
}

/// The org's entries with an ID below `before`, newest first, at most `limit`.
pub async fn page(conn: &mut AnyConnection, org: &str, before: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, detail, token_id, address FROM audit \
         WHERE org = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(org)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(Entry {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                detail: super::stored("audit.detail", serde_json::from_str(&detail))?,
                token_id: row.try_get("token_id")?,
                address: row.try_get("address")?,
            })
        })
        .collect()
}
