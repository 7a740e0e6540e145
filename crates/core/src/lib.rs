//! # embedgate-core
//!
//! The pure logic of embedgate's embed client credentials: key material,
//! embed tokens (HS256 with a generated secret, or ES256/EdDSA with a host
//! app's own key pair: [`public_key`]; signing and verification), the owner and embed
//! policy, and the edge's versioned state. No I/O; the clock is always passed
//! in; builds for native targets and `wasm32-unknown-unknown`.
//!
//! ```
//! use embedgate_core::{sign, Claims, ClientId, CredentialRecord, EmbedContext, EmbedSecret, KeyRing, Validation};
//! # use embedgate_core::{AccountType, Owner};
//! let client_id = ClientId::generate().unwrap();
//! let secret = EmbedSecret::generate().unwrap();
//! let now = 1_700_000_000;
//! let token = sign(&Claims::new("ana@example.com", now, 3600).unwrap(), &client_id, &secret).unwrap();
//!
//! let owner = Owner { email: "admin@example.com".into(), account_type: AccountType::Admin };
//! let record = CredentialRecord::new(client_id.clone(), "acme".parse().unwrap(), owner);
//! let keys = KeyRing::from_secret(&secret, 1);
//! let ok = Validation::default()
//!     .verify(&token, now, &EmbedContext::default(), |kid| (kid == client_id.as_str()).then_some((&record, &keys)))
//!     .unwrap();
//! assert_eq!(ok.sub(), "ana@example.com");
//! ```
//!
//! Verification runs the checks of architecture.md §4 in order and
//! answers with exactly one [`VerifyError`]; the token is parsed into an
//! [`UnverifiedToken`] and its MAC checked in constant time before any claim
//! is believed.

pub mod cache;
mod credential;
mod duration;
mod edge;
mod embed_url;
mod error;
pub mod jws;
pub mod keys;
mod offline;
pub mod origin;
mod printable;
pub mod public_key;
pub mod region;
pub mod replica;
pub mod rules;
mod scan;
mod secret;
mod sign;
mod state;
pub mod sync;
mod types;
mod unverified;
pub mod usage;
mod validation;

pub use credential::{CredentialRecord, KeyRing, Owner, Policy, SecretGeneration, MAX_LIVE_SECRETS};
pub use duration::parse_seconds;
pub use edge::{EdgeVerifier, Session, MAX_SESSION_BYTES, MAX_SESSION_TTL_S, SESSION_COOKIE};
pub use embed_url::{embed_token, is_refresh, origin_of, query_param, query_without_token, EmbedKind, EmbedTarget};
pub use error::{Class, VerifyError};
pub use keys::{KeyId, KeySet, OrgKey, Wrapped};
pub use offline::{Inspection, OfflineCheck, OptionsError, Outcome, Report, Rule, RuleVerdict, Verdict};
pub use public_key::{Algorithm, JwkError, PublicJwk, SigningJwk};
pub use region::{Region, RegionError};
pub use secret::{
    find_embed_secrets, looks_like_embed_secret, EdgeKey, EmbedSecret, Kdf, KeyError, MasterKey, SyncKey,
    EDGE_KEY_PREFIX, EMBED_SECRET_LEN, EMBED_SECRET_PREFIX, MASTER_KEY_PREFIX, SYNC_KEY_PREFIX,
};
pub use sign::{random_jti, sign, sign_raw, sign_raw_with_key, sign_with_key, Claims, SignError};
pub use state::{
    check_step, Deleted, EdgeCredential, EdgeOwner, OrgChanges, StateError, MAX_VERSION, MAX_VERSION_JUMP,
};
pub use types::{AccountType, ClientId, OrgSlug, ParseError, Privilege};
pub use unverified::UnverifiedToken;
pub use validation::{
    canonical_email, EmbedContext, Identity, TokenVersion, Validation, VerifiedToken, MAX_JTI_CHARS,
    MAX_LIFETIME_CAP_S, MAX_SUB_CHARS, MAX_TOKEN_BYTES,
};
