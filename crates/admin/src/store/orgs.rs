//! Orgs: created once, by `embedgate init`, with their first admin.

use embedgate_core::rules::Email;

use super::change::Touched;
use super::{is_unique_violation, Change, StoreError};

impl Change {
    /// Creates this change's org with `admin` as its first (active) admin
    /// holding the token that hashes to `token_hash` ([`StoreError::OrgExists`]
    /// if the org is there already).
    pub async fn create_org(
        &mut self,
        admin: &Email,
        token_id: &str,
        token_hash: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let org = self.org().to_owned();
        let inserted = sqlx::query("INSERT INTO orgs (slug, created_at) VALUES ($1, $2)")
            .bind(&org)
            .bind(at)
            .execute(self.conn())
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::OrgExists),
            other => {
                other?;
            }
        }
        sqlx::query(
            "INSERT INTO members (org, email, account_type, status, created_at) VALUES ($1, $2, 'admin', 'active', $3)",
        )
        .bind(&org)
        .bind(admin.as_str())
        .bind(at)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO member_tokens (id, org, email, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $3)",
        )
        .bind(token_id)
        .bind(&org)
        .bind(admin.as_str())
        .bind(token_hash)
        .bind(at)
        .execute(self.conn())
        .await?;
        self.touch(Touched::Org);
        Ok(())
    }
}
