//! The admin → edge push protocol (architecture.md §6) as pure data: what is sent,
//! what the edge answers, and how both are authenticated with the sync key.
//!
//! One message type goes each way over `POST /.well-known/embedgate/sync`:
//! - a [`SyncRequest`]: the admin's current version, the full [`Snapshot`]
//!   at that version (a *push*) or none (a *probe*, used by periodic
//!   reconciliation to ask where the edge is), a usage cursor and a nonce;
//! - a [`SyncAck`]: the version the edge has applied, what it did with the
//!   request, the credential use it has seen since the cursor (`last_used_at`
//!   flows back this way), and the request's nonce.
//!
//! Both bodies are JSON, sealed with `HMAC-SHA256(sync key, label ‖ body)`
//! where the label separates the two directions, and the tag travels in the
//! [`SIGNATURE_HEADER`] as `v1=<64 hex>`. The tag is checked in constant time
//! before the body is parsed, and the body's size before either. The ack
//! echoes the request's nonce, so an old ack replayed to the admin is refused.
//!
//! Anti-rollback is the receiver's job ([`crate::EdgeState::apply`] refuses
//! anything not newer): a replayed push of an old snapshot is authentic but
//! stale, and changes nothing.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secret::SyncKey;
use crate::state::Snapshot;

/// The HTTP header carrying a sealed body's tag.
pub const SIGNATURE_HEADER: &str = "x-embedgate-signature";
/// The largest sync body accepted, in bytes (32 MiB: about 100,000 credentials).
pub const MAX_SYNC_BYTES: usize = 32 << 20;
/// The sync endpoint's path on every edge.
pub const SYNC_PATH: &str = "/.well-known/embedgate/sync";

const REQUEST_LABEL: &[u8] = b"embedgate/sync-request/v1\0";
const ACK_LABEL: &[u8] = b"embedgate/sync-ack/v1\0";
const TAG_PREFIX: &str = "v1=";

/// Why a sync message was refused. Each maps to one HTTP status in the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The body is larger than [`MAX_SYNC_BYTES`] (HTTP 413).
    #[error("the sync body is larger than {MAX_SYNC_BYTES} bytes")]
    TooLarge,
    /// The signature header is absent or not `v1=<64 hex>` (HTTP 401).
    #[error("the sync signature is missing or malformed")]
    MissingSignature,
    /// The tag does not match the body under this sync key (HTTP 401).
    #[error("the sync signature does not match")]
    BadSignature,
    /// The body is authentic but not a valid message (HTTP 400).
    #[error("the sync body is not a valid message: {0}")]
    Malformed(String),
    /// The ack answers another request (its nonce differs).
    #[error("the ack does not answer this request")]
    NonceMismatch,
}

impl SyncError {
    /// The stable machine code of this error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "payload_too_large",
            Self::MissingSignature | Self::BadSignature => "bad_signature",
            Self::Malformed(_) => "malformed_payload",
            Self::NonceMismatch => "nonce_mismatch",
        }
    }

    /// The HTTP status the edge answers this error with.
    pub const fn http_status(&self) -> u16 {
        match self {
            Self::TooLarge => 413,
            Self::MissingSignature | Self::BadSignature => 401,
            Self::Malformed(_) | Self::NonceMismatch => 400,
        }
    }
}

/// What the admin sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// The admin's current state version.
    pub version: u64,
    /// The full state at `version` (a push), or `None` (a probe).
    pub snapshot: Option<Snapshot>,
    /// The edge reports credential use recorded after this cursor (0: all).
    pub usage_after: u64,
    /// Random, echoed by the ack.
    pub nonce: String,
    /// When the admin sent it (Unix seconds; 0: not said). The edge counts
    /// its state's age from here ([`SyncRequest::vouched_at`]), so a replayed
    /// old request cannot make a cut-off edge look fresh.
    #[serde(default)]
    pub sent_at: i64,
}

/// What the edge did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    /// The snapshot was newer and is now applied.
    Applied,
    /// The edge already had exactly this version.
    Current,
    /// The snapshot is older than the applied one: refused (anti-rollback).
    Stale,
    /// A probe: nothing to apply (compare `applied_version` with yours).
    Probed,
}

/// One credential's last use as the edge saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The credential.
    pub client_id: String,
    /// The last successful embed load (Unix seconds, edge clock).
    pub last_used_at: i64,
}

/// What the edge answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAck {
    /// The version the edge has applied after this request.
    pub applied_version: u64,
    /// When the admin produced that version (Unix seconds, admin clock).
    pub applied_issued_at: i64,
    /// What happened to this request.
    pub outcome: SyncOutcome,
    /// Credential use recorded after the request's `usage_after`.
    pub usage: Vec<Usage>,
    /// The cursor to send as `usage_after` next time.
    pub usage_cursor: u64,
    /// The request's nonce.
    pub nonce: String,
}

impl SyncRequest {
    /// A probe: "I am at `version`; where are you?".
    pub fn probe(version: u64, usage_after: u64) -> Result<Self, crate::KeyError> {
        Ok(Self { version, snapshot: None, usage_after, nonce: random_nonce()?, sent_at: 0 })
    }

    /// A push of `snapshot`.
    pub fn push(snapshot: Snapshot, usage_after: u64) -> Result<Self, crate::KeyError> {
        Ok(Self {
            version: snapshot.version,
            snapshot: Some(snapshot),
            usage_after,
            nonce: random_nonce()?,
            sent_at: 0,
        })
    }

    /// The same request, stamped as sent at `now` (Unix seconds).
    #[must_use]
    pub fn sent_at(mut self, now: i64) -> Self {
        self.sent_at = now;
        self
    }

    /// Until when this request vouches for the edge's state: its `sent_at`,
    /// never later than the edge's own clock `now` (an admin clock running
    /// ahead cannot make state look fresher than it is; one running behind
    /// makes it look older, which fails safe).
    pub fn vouched_at(&self, now: i64) -> i64 {
        self.sent_at.clamp(0, now.max(0))
    }
}

/// The age of an edge's state, in seconds: how long since the admin last
/// vouched for it (`last_vouched_at`, 0: never). `None` before any sync.
pub fn state_age_s(last_vouched_at: i64, now: i64) -> Option<i64> {
    (last_vouched_at > 0).then(|| now.saturating_sub(last_vouched_at).max(0))
}

/// Whether an edge bound to `max_age_s` (`EMBEDGATE_MAX_STATE_AGE`) must
/// fail closed: its state is older than the bound, or was never vouched for.
/// Without a bound the edge serves whatever it last had (fail open).
pub fn state_too_old(last_vouched_at: i64, now: i64, max_age_s: Option<u64>) -> bool {
    max_age_s
        .is_some_and(|max| state_age_s(last_vouched_at, now).is_none_or(|age| u64::try_from(age).unwrap_or(0) > max))
}

/// A sealed body and the value of its [`SIGNATURE_HEADER`].
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The JSON body.
    pub body: Vec<u8>,
    /// `v1=<64 hex>`.
    pub signature: String,
}

/// Seals a request for sending.
pub fn seal_request(request: &SyncRequest, key: &SyncKey) -> Sealed {
    seal(request, key, REQUEST_LABEL)
}

/// Checks and parses a request: size, then tag (constant time), then JSON.
pub fn open_request(body: &[u8], signature: Option<&str>, key: &SyncKey) -> Result<SyncRequest, SyncError> {
    let request: SyncRequest = open(body, signature, key, REQUEST_LABEL)?;
    if let Some(snapshot) = &request.snapshot {
        if snapshot.version != request.version {
            return Err(SyncError::Malformed("the snapshot's version differs from the request's".into()));
        }
    }
    if request.nonce.is_empty() || request.nonce.len() > 128 {
        return Err(SyncError::Malformed("the nonce must be 1 to 128 characters".into()));
    }
    Ok(request)
}

/// Checks the tag of a request without parsing it (the edge's state store
/// re-checks stored bodies this way before trusting them again).
pub fn verify_request_tag(body: &[u8], signature: Option<&str>, key: &SyncKey) -> Result<(), SyncError> {
    check(body, signature, key, REQUEST_LABEL)
}

/// Seals an ack for answering.
pub fn seal_ack(ack: &SyncAck, key: &SyncKey) -> Sealed {
    seal(ack, key, ACK_LABEL)
}

/// Checks and parses an ack, and that it answers the request with `nonce`.
pub fn open_ack(body: &[u8], signature: Option<&str>, key: &SyncKey, nonce: &str) -> Result<SyncAck, SyncError> {
    let ack: SyncAck = open(body, signature, key, ACK_LABEL)?;
    if ack.nonce != nonce {
        return Err(SyncError::NonceMismatch);
    }
    Ok(ack)
}

fn mac(key: &SyncKey, label: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_bytes()).expect("HMAC accepts any key length");
    mac.update(label);
    mac.update(body);
    mac
}

fn seal<T: Serialize>(value: &T, key: &SyncKey, label: &[u8]) -> Sealed {
    let body = serde_json::to_vec(value).expect("sync messages serialize");
    let tag = mac(key, label, &body).finalize().into_bytes();
    let mut signature = String::with_capacity(TAG_PREFIX.len() + 64);
    signature.push_str(TAG_PREFIX);
    for b in tag {
        signature.push(char::from(HEX[usize::from(b >> 4)]));
        signature.push(char::from(HEX[usize::from(b & 15)]));
    }
    Sealed { body, signature }
}

/// Checks that a signature header is well-formed (`v1=<64 hex>`) without a
/// key or a body: lets a receiver refuse an unsigned request before reading it.
pub fn check_signature_header(signature: Option<&str>) -> Result<(), SyncError> {
    tag_of(signature).map(drop)
}

fn tag_of(signature: Option<&str>) -> Result<[u8; 32], SyncError> {
    signature.and_then(|s| s.trim().strip_prefix(TAG_PREFIX)).and_then(decode_hex32).ok_or(SyncError::MissingSignature)
}

fn check(body: &[u8], signature: Option<&str>, key: &SyncKey, label: &[u8]) -> Result<(), SyncError> {
    if body.len() > MAX_SYNC_BYTES {
        return Err(SyncError::TooLarge);
    }
    let tag = tag_of(signature)?;
    mac(key, label, body).verify_slice(&tag).map_err(|_| SyncError::BadSignature)
}

fn open<T: serde::de::DeserializeOwned>(
    body: &[u8],
    signature: Option<&str>,
    key: &SyncKey,
    label: &[u8],
) -> Result<T, SyncError> {
    check(body, signature, key, label)?;
    serde_json::from_slice(body).map_err(|e| SyncError::Malformed(e.to_string()))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// 128 random bits, hex.
fn random_nonce() -> Result<String, crate::KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(crate::KeyError::Random)?;
    Ok(bytes.iter().flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]).map(char::from).collect())
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn key() -> SyncKey {
        SyncKey::from_printable(&SyncKey::generate().unwrap().to_printable()).unwrap()
    }

    #[test]
    fn request_round_trip_and_tamper() {
        let k = key();
        let req = SyncRequest::push(Snapshot { version: 7, issued_at: 1, ..Snapshot::default() }, 3).unwrap();
        let sealed = seal_request(&req, &k);
        assert_eq!(open_request(&sealed.body, Some(&sealed.signature), &k).unwrap(), req);
        // Another key, a flipped body byte, a flipped tag, no tag, an uppercase tag: all refused.
        assert_eq!(open_request(&sealed.body, Some(&sealed.signature), &key()), Err(SyncError::BadSignature));
        let mut body = sealed.body.clone();
        body[5] ^= 1;
        assert_eq!(open_request(&body, Some(&sealed.signature), &k), Err(SyncError::BadSignature));
        let mut sig = sealed.signature.clone().into_bytes();
        let last = sig.len() - 1;
        sig[last] = if sig[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(open_request(&sealed.body, std::str::from_utf8(&sig).ok(), &k), Err(SyncError::BadSignature));
        assert_eq!(open_request(&sealed.body, None, &k), Err(SyncError::MissingSignature));
        let upper = sealed.signature.to_uppercase().replace("V1=", "v1=");
        assert_eq!(open_request(&sealed.body, Some(&upper), &k), Err(SyncError::MissingSignature));
    }

    #[test]
    fn an_ack_signature_is_not_a_request_signature() {
        let k = key();
        let ack = SyncAck {
            applied_version: 1,
            applied_issued_at: 0,
            outcome: SyncOutcome::Probed,
            usage: vec![],
            usage_cursor: 0,
            nonce: "n".into(),
        };
        let sealed = seal_ack(&ack, &k);
        assert_eq!(open_ack(&sealed.body, Some(&sealed.signature), &k, "n").unwrap(), ack);
        assert_eq!(open_ack(&sealed.body, Some(&sealed.signature), &k, "m"), Err(SyncError::NonceMismatch));
        assert_eq!(verify_request_tag(&sealed.body, Some(&sealed.signature), &k), Err(SyncError::BadSignature));
    }

    #[test]
    fn size_is_checked_before_the_tag_and_versions_must_agree() {
        let k = key();
        assert_eq!(open_request(&vec![b' '; MAX_SYNC_BYTES + 1], None, &k), Err(SyncError::TooLarge));
        let mut req = SyncRequest::push(Snapshot { version: 2, ..Snapshot::default() }, 0).unwrap();
        req.version = 3;
        let sealed = seal_request(&req, &k);
        assert!(matches!(open_request(&sealed.body, Some(&sealed.signature), &k), Err(SyncError::Malformed(_))));
        let sealed = Sealed { body: b"[1]".to_vec(), signature: seal(&[1], &k, REQUEST_LABEL).signature };
        assert!(matches!(open_request(&sealed.body, Some(&sealed.signature), &k), Err(SyncError::Malformed(_))));
    }

    #[test]
    fn state_age_counts_from_when_the_admin_vouched_never_from_the_future() {
        let req = SyncRequest::probe(1, 0).unwrap();
        assert_eq!(req.vouched_at(1_000), 0, "an unstamped request vouches for nothing");
        let req = req.sent_at(900);
        assert_eq!(req.vouched_at(1_000), 900);
        assert_eq!(req.vouched_at(800), 800, "an admin clock ahead is clamped to the edge's");
        assert_eq!(state_age_s(0, 1_000), None);
        assert_eq!(state_age_s(900, 1_000), Some(100));
        assert_eq!(state_age_s(1_100, 1_000), Some(0));
        assert!(!state_too_old(0, 1_000, None), "no bound: fail open");
        assert!(state_too_old(0, 1_000, Some(60)), "never synced with a bound: fail closed");
        assert!(!state_too_old(940, 1_000, Some(60)));
        assert!(state_too_old(939, 1_000, Some(60)));
        // The stamp is sealed: an old probe replayed later still vouches only for its own time.
        let k = key();
        let sealed = seal_request(&SyncRequest::probe(1, 0).unwrap().sent_at(500), &k);
        let replayed = open_request(&sealed.body, Some(&sealed.signature), &k).unwrap();
        assert!(state_too_old(replayed.vouched_at(10_000), 10_000, Some(60)));
    }
}
