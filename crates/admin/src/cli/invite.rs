//! `embedgate invite`: an invitation code for a member, made with the
//! database and the master key rather than through the API. The recovery
//! path of an org whose admins hold no live token any more (tokens expire;
//! an admin cannot issue one for another member): whoever runs it already
//! holds the database, so it gives nothing new, and it is audited as
//! `member.invite` by `embedgate-cli`. The member redeems the code at the
//! console's sign-in (or `POST /api/v1/invitations/redeem`) for a token of
//! their own, which the operator never sees.

use clap::Args;
use embedgate_core::rules::Email;

use super::server::{runtime, StoreArgs};
use super::{write_line, UsageError};
use crate::server::auth::{new_invitation_code, random_id, INVITATION_TTL_S};
use crate::store::audit::Event;
use crate::store::StoreError;

/// The actor the audit log names for invitations made here.
const ACTOR: &str = "embedgate-cli";

/// Arguments of `embedgate invite`.
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The member's org.
    #[arg(long)]
    org: String,
    /// The member's email (an active member of the org).
    #[arg(long)]
    email: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Prints `{"org","email","code","expires_at"}` once; exit 2 with the reason
/// when the org or the member is unknown or inactive.
pub fn run(args: &InviteArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let email = Email::parse(&args.email).map_err(|e| UsageError::new(format!("--email {e}")))?;
    let masters = args.store.load_master_keys()?;
    runtime()?.block_on(async {
        let (db, _keys) = args.store.open(masters).await?;
        let result = async {
            let (code, hash) = new_invitation_code().map_err(|e| UsageError::new(e.to_string()))?;
            let id = random_id().map_err(|e| UsageError::new(e.to_string()))?;
            let at = crate::server::now();
            let expires_at = at + INVITATION_TTL_S;
            let unknown = |e: StoreError| match e {
                StoreError::NotFound(_) => UsageError::new(format!(
                    "{} is not an active member of the org {:?} (check --org and --email)",
                    email.as_str(),
                    args.org
                )),
                other => UsageError::new(other.to_string()),
            };
            let mut change = db.change(&args.org, ACTOR).await.map_err(unknown)?;
            // The operator holds the database: no live-token check to keep them out.
            change.invite(&email, (&id, &hash), (at, expires_at), false).await.map_err(unknown)?;
            change.commit(Event::MemberInvited { email: email.clone(), invitation_id: id }).await.map_err(unknown)?;
            Ok::<_, UsageError>((code, expires_at))
        }
        .await;
        db.pool.close().await;
        let (code, expires_at) = result?;
        let line = serde_json::json!({
            "org": args.org,
            "email": email.as_str(),
            "code": code.as_str(),
            "expires_at": expires_at,
        });
        write_line(out, &line.to_string())?;
        Ok(0)
    })
}
