//! The admin → edge sync protocol (architecture.md §6) as pure data: what
//! is sent, what the edge answers, and how both are authenticated with the
//! sync key.
//!
//! One message type goes each way over `POST /.well-known/embedgate/sync`:
//! - a [`SyncRequest`] with one [`SyncBody`]: a *probe* (where are you?),
//!   a *delta* (the records changed in a version range, in pages), or a
//!   page of a *full* state (for an edge that is new, wiped, or older than
//!   the admin's change log); plus the usage cursors and a nonce;
//! - a [`SyncAck`]: the version every region has applied, what the edge did
//!   with the request, where a full state stands, the credential use seen
//!   since the cursors (`last_used_at` flows back this way), and the nonce.
//!
//! Every record carries the version of its last change and an edge applies
//! it only when newer ([`crate::state`]), so deltas are idempotent and a
//! late or repeated message never takes a record back. A region's version
//! moves only when a whole delta or a whole full state is in.
//!
//! Both bodies are JSON, sealed with `HMAC-SHA256(sync key, label ‖ body)`
//! where the label separates the two directions, and the tag travels in the
//! [`SIGNATURE_HEADER`] as `kid=<16 hex>,v1=<64 hex>`: the sync key's id
//! ([`crate::keys::KeyId`]) names which of the (at most two) configured keys
//! sealed it, so a key can be rotated without stopping pushes; the edge
//! answers under the key the request named. The tag is checked in constant
//! time before the body is parsed, and the body's size before either. The
//! ack echoes the request's nonce, so an old ack replayed to the admin is
//! refused.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::keys::{KeyId, KeySet, NamedKey};
use crate::region::Region;
use crate::secret::SyncKey;
use crate::state::{OrgChanges, MAX_VERSION};

/// The HTTP header carrying a sealed body's tag.
pub const SIGNATURE_HEADER: &str = "x-embedgate-signature";
/// The largest sync body accepted, in bytes (1 MiB): the admin pages deltas
/// and full states under it ([`PAGE_BUDGET_BYTES`]).
pub const MAX_SYNC_BYTES: usize = 1 << 20;
/// What the admin fills a page with at most, in bytes of records: room
/// under [`MAX_SYNC_BYTES`] for the envelope.
pub const PAGE_BUDGET_BYTES: usize = 900 * 1024;
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
    /// The signature header is absent or not `kid=<16 hex>,v1=<64 hex>` (HTTP 401).
    #[error("the sync signature is missing or malformed")]
    MissingSignature,
    /// The message names a sync key that is not configured here (HTTP 401).
    #[error("the message is sealed with sync key {0}, which is not configured here")]
    UnknownKey(KeyId),
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
            Self::UnknownKey(_) => "unknown_sync_key",
            Self::Malformed(_) => "malformed_payload",
            Self::NonceMismatch => "nonce_mismatch",
        }
    }

    /// The HTTP status the edge answers this error with.
    pub const fn http_status(&self) -> u16 {
        match self {
            Self::TooLarge => 413,
            Self::MissingSignature | Self::BadSignature | Self::UnknownKey(_) => 401,
            Self::Malformed(_) | Self::NonceMismatch => 400,
        }
    }
}

/// What a request carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SyncBody {
    /// "I am at `version`; where are you?" (vouches for the edge's state).
    Probe,
    /// The records changed after version `from` up to `to`, each as of its
    /// last change; `last` on the delta's final page (the region's version
    /// moves to `to` then).
    Delta {
        /// The version the delta starts after (the edge must be there).
        from: u64,
        /// The version it brings the edge to.
        to: u64,
        /// Whether this is the delta's final page.
        last: bool,
        /// The changes, by org.
        orgs: Vec<OrgChanges>,
    },
    /// One page of a full state at version `to`: pages `0, 1, …` of the full
    /// state `id`, orgs in order, each org's records over consecutive pages
    /// with `complete` on its last; `last` on the final page.
    Full {
        /// Names this full state (pages of another one start it over).
        id: String,
        /// The version the full state is at.
        to: u64,
        /// The page's number, from 0.
        seq: u32,
        /// Whether this is the final page.
        last: bool,
        /// The edge followed another database (it was ahead of this admin):
        /// each org's records are replaced as sent, even by older ones.
        #[serde(default, skip_serializing_if = "core::ops::Not::not")]
        replace: bool,
        /// The orgs' records.
        orgs: Vec<OrgChanges>,
    },
}

/// What the admin sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// The admin database's lineage (random, made once): versions and
    /// records mean something only within one lineage, so an edge that holds
    /// another's state (it followed another database, or was sent a state
    /// from elsewhere) takes no delta of this one, only a full state.
    #[serde(default)]
    pub lineage: String,
    /// The admin's current state version.
    pub version: u64,
    /// What it carries.
    pub body: SyncBody,
    /// Per region, the edge reports credential use recorded after this cursor (absent: all).
    #[serde(default)]
    pub usage_after: BTreeMap<Region, u64>,
    /// Per region, the edge reports embed users recorded after this cursor
    /// (absent: all). Sent only once an ack gave cursors, so an edge that
    /// predates it (unknown fields refused) is never sent one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users_after: BTreeMap<Region, u64>,
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
    /// Applied: every region is at the message's version.
    Applied,
    /// A page was taken; the delta or full state is not complete yet.
    Taken,
    /// Every region already had the message's version.
    Current,
    /// The message is older than what a region has applied (anti-rollback).
    Stale,
    /// A region is not where the message starts (a delta from elsewhere, a
    /// page out of order): compare the regions' versions and progress.
    Gap,
    /// A probe: nothing to apply.
    Probed,
    /// A region could not take the message (storage, a bad step): see its error.
    Failed,
}

/// How far a full state has come in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullProgress {
    /// The full state's name.
    pub id: String,
    /// Its version.
    pub to: u64,
    /// The next page the region expects.
    pub next_seq: u32,
}

/// One region's state after a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionAck {
    /// The region.
    pub region: Region,
    /// The lineage of the state it holds (empty: none yet).
    #[serde(default)]
    pub lineage: String,
    /// Its applied version.
    pub version: u64,
    /// A full state in progress there.
    #[serde(default)]
    pub full: Option<FullProgress>,
    /// Why it could not take the last message (`None`: it could).
    #[serde(default)]
    pub error: Option<String>,
}

/// One credential's last use as the edge saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The credential.
    pub client_id: String,
    /// The last successful embed load (Unix seconds, edge clock).
    pub last_used_at: i64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
const fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the edge answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAck {
    /// The lowest version over the regions: what the edge as a whole has.
    pub applied_version: u64,
    /// When the admin sent the message that brought it there (Unix seconds, admin clock).
    pub applied_issued_at: i64,
    /// Every region's state.
    pub regions: Vec<RegionAck>,
    /// What happened to this request.
    pub outcome: SyncOutcome,
    /// Credential use recorded after the request's cursors.
    pub usage: Vec<Usage>,
    /// The cursors to send as `usage_after` next time.
    pub usage_cursor: BTreeMap<Region, u64>,
    /// Per region, the embed users whose totals changed after the request's
    /// `users_after` (running totals: loads only grow), at most
    /// [`crate::usage::USERS_ACK_BYTES`] of them over all regions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<Region, Vec<crate::usage::EmbedUse>>,
    /// The cursors to send as `users_after` next time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users_cursor: BTreeMap<Region, u64>,
    /// Identities the isolates could not keep (their windows were full), in
    /// the regions' totals.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub users_dropped: u64,
    /// The request's nonce.
    pub nonce: String,
}

impl SyncAck {
    /// A full state in progress at the edge: the one every region is in, at
    /// the lowest next page (a region that finished it no longer lists it).
    pub fn full_progress(&self) -> Option<FullProgress> {
        let mut progress: Option<FullProgress> = None;
        for r in &self.regions {
            if let Some(f) = &r.full {
                match &progress {
                    Some(p) if p.id == f.id && p.next_seq <= f.next_seq => {}
                    _ => progress = Some(f.clone()),
                }
            }
        }
        progress
    }

    /// Whether every region holds a state of `lineage`.
    pub fn follows(&self, lineage: &str) -> bool {
        self.regions.iter().all(|r| r.lineage == lineage)
    }

    /// The first region error, if any region could not take the message.
    pub fn error(&self) -> Option<String> {
        self.regions.iter().find_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.region)))
    }
}

impl SyncRequest {
    /// A request of `lineage` carrying `body`, with a fresh nonce, stamped as sent at `now`.
    pub fn new(
        lineage: &str,
        version: u64,
        body: SyncBody,
        usage_after: BTreeMap<Region, u64>,
        now: i64,
    ) -> Result<Self, crate::KeyError> {
        Ok(Self {
            lineage: lineage.to_owned(),
            version,
            body,
            usage_after,
            users_after: BTreeMap::new(),
            nonce: random_nonce()?,
            sent_at: now,
        })
    }

    /// A probe: "I am at `version`; where are you?".
    pub fn probe(
        lineage: &str,
        version: u64,
        usage_after: BTreeMap<Region, u64>,
        now: i64,
    ) -> Result<Self, crate::KeyError> {
        Self::new(lineage, version, SyncBody::Probe, usage_after, now)
    }

    /// Until when this request vouches for the edge's state: its `sent_at`,
    /// never later than the edge's own clock `now` (an admin clock running
    /// ahead cannot make state look fresher than it is; one running behind
    /// makes it look older, which fails safe).
    pub fn vouched_at(&self, now: i64) -> i64 {
        self.sent_at.clamp(0, now.max(0))
    }

    /// Whether the request's versions agree with each other and stay in
    /// range: a delta goes forward from `from` to `to`, nothing is beyond
    /// the admin's own version or [`MAX_VERSION`].
    fn check(&self) -> Result<(), SyncError> {
        let bad = |why: &str| Err(SyncError::Malformed(why.to_owned()));
        if self.version > MAX_VERSION {
            return bad("the version is beyond 2^53 - 1");
        }
        if self.nonce.is_empty() || self.nonce.len() > 128 {
            return bad("the nonce must be 1 to 128 characters");
        }
        if self.lineage.len() > 64 {
            return bad("a lineage is at most 64 characters");
        }
        match &self.body {
            SyncBody::Delta { from, to, .. } if from >= to => bad("a delta goes from a version to a later one"),
            SyncBody::Delta { to, .. } | SyncBody::Full { to, .. } if *to > self.version => {
                bad("a message cannot be ahead of the admin's own version")
            }
            SyncBody::Full { id, to: 0, .. } if id.is_empty() => bad("a full state is named and at a version"),
            SyncBody::Full { id, .. } if id.is_empty() || id.len() > 64 => {
                bad("a full state's name is 1 to 64 characters")
            }
            SyncBody::Probe | SyncBody::Delta { .. } | SyncBody::Full { .. } => Ok(()),
        }
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
    /// `kid=<16 hex>,v1=<64 hex>`.
    pub signature: String,
}

/// The sync keys a message may be checked with: one key, or the configured
/// set (at most two during a rotation).
pub trait SyncKeys {
    /// The key named `kid`, or, for a message that names none, each key.
    fn candidates(&self, kid: Option<KeyId>) -> Result<Vec<(KeyId, &SyncKey)>, SyncError>;
}

impl SyncKeys for SyncKey {
    fn candidates(&self, kid: Option<KeyId>) -> Result<Vec<(KeyId, &SyncKey)>, SyncError> {
        let id = self.id();
        match kid {
            Some(k) if k != id => Err(SyncError::UnknownKey(k)),
            _ => Ok(vec![(id, self)]),
        }
    }
}

impl SyncKeys for KeySet<SyncKey> {
    fn candidates(&self, kid: Option<KeyId>) -> Result<Vec<(KeyId, &SyncKey)>, SyncError> {
        match kid {
            Some(k) => self.get(k).map(|key| vec![(k, key)]).ok_or(SyncError::UnknownKey(k)),
            None => Ok(self.iter().collect()),
        }
    }
}

/// Seals a request for sending.
pub fn seal_request(request: &SyncRequest, key: &SyncKey) -> Sealed {
    seal(request, key, REQUEST_LABEL)
}

/// Checks and parses a request: size, then tag (constant time), then JSON,
/// then that its versions agree.
pub fn open_request(body: &[u8], signature: Option<&str>, keys: &impl SyncKeys) -> Result<SyncRequest, SyncError> {
    open_request_keyed(body, signature, keys).map(|(request, _)| request)
}

/// [`open_request`], also telling which sync key sealed it (the ack is
/// sealed with the same one).
pub fn open_request_keyed(
    body: &[u8],
    signature: Option<&str>,
    keys: &impl SyncKeys,
) -> Result<(SyncRequest, KeyId), SyncError> {
    let (request, kid): (SyncRequest, KeyId) = open(body, signature, keys, REQUEST_LABEL)?;
    request.check()?;
    Ok((request, kid))
}

/// Checks the tag of a request without parsing it.
pub fn verify_request_tag(body: &[u8], signature: Option<&str>, keys: &impl SyncKeys) -> Result<(), SyncError> {
    check(body, signature, keys, REQUEST_LABEL).map(drop)
}

/// Seals an ack for answering.
pub fn seal_ack(ack: &SyncAck, key: &SyncKey) -> Sealed {
    seal(ack, key, ACK_LABEL)
}

/// Checks and parses an ack, and that it answers the request with `nonce`.
pub fn open_ack(body: &[u8], signature: Option<&str>, keys: &impl SyncKeys, nonce: &str) -> Result<SyncAck, SyncError> {
    let (ack, _): (SyncAck, KeyId) = open(body, signature, keys, ACK_LABEL)?;
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
    let mut signature = String::with_capacity(24 + TAG_PREFIX.len() + 64);
    signature.push_str("kid=");
    signature.push_str(&key.id().to_string());
    signature.push(',');
    signature.push_str(TAG_PREFIX);
    for b in tag {
        signature.push(char::from(HEX[usize::from(b >> 4)]));
        signature.push(char::from(HEX[usize::from(b & 15)]));
    }
    Sealed { body, signature }
}

/// Checks that a signature header is well-formed (`kid=<16 hex>,v1=<64 hex>`,
/// or `v1=<64 hex>` alone) without a key or a body: lets a receiver refuse an
/// unsigned request before reading it.
pub fn check_signature_header(signature: Option<&str>) -> Result<(), SyncError> {
    parse_signature(signature).map(drop)
}

/// The key id and tag of a signature header.
fn parse_signature(signature: Option<&str>) -> Result<(Option<KeyId>, [u8; 32]), SyncError> {
    let (mut kid, mut tag) = (None, None);
    for part in signature.ok_or(SyncError::MissingSignature)?.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("kid", id)) if kid.is_none() => kid = Some(id.parse().map_err(|_| SyncError::MissingSignature)?),
            Some(("v1", hex)) if tag.is_none() => tag = Some(decode_hex32(hex).ok_or(SyncError::MissingSignature)?),
            _ => return Err(SyncError::MissingSignature),
        }
    }
    Ok((kid, tag.ok_or(SyncError::MissingSignature)?))
}

fn check(body: &[u8], signature: Option<&str>, keys: &impl SyncKeys, label: &[u8]) -> Result<KeyId, SyncError> {
    if body.len() > MAX_SYNC_BYTES {
        return Err(SyncError::TooLarge);
    }
    let (kid, tag) = parse_signature(signature)?;
    // Every candidate is tried (one when the message names its key, at most
    // two otherwise), so the time taken does not tell which one matched.
    let mut matched = None;
    for (id, key) in keys.candidates(kid)? {
        if mac(key, label, body).verify_slice(&tag).is_ok() && matched.is_none() {
            matched = Some(id);
        }
    }
    matched.ok_or(SyncError::BadSignature)
}

fn open<T: serde::de::DeserializeOwned>(
    body: &[u8],
    signature: Option<&str>,
    keys: &impl SyncKeys,
    label: &[u8],
) -> Result<(T, KeyId), SyncError> {
    let kid = check(body, signature, keys, label)?;
    let value = serde_json::from_slice(body).map_err(|e| SyncError::Malformed(e.to_string()))?;
    Ok((value, kid))
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

    fn delta(from: u64, to: u64) -> SyncRequest {
        SyncRequest::new("l", to, SyncBody::Delta { from, to, last: true, orgs: vec![] }, BTreeMap::new(), 1).unwrap()
    }

    #[test]
    fn user_cursors_travel_only_when_known() {
        // An edge that predates embed users refuses unknown fields: none is sent until an ack gave cursors.
        let mut req = delta(1, 2);
        assert!(!String::from_utf8(seal_request(&req, &key()).body).unwrap().contains("users_after"));
        req.users_after.insert(Region::ALL[0], 3);
        let k = key();
        let sealed = seal_request(&req, &k);
        assert_eq!(open_request(&sealed.body, Some(&sealed.signature), &k).unwrap(), req);
        // An ack from an edge that predates them parses, with none.
        let old = r#"{"applied_version":1,"applied_issued_at":0,"regions":[],"outcome":"probed","usage":[],"usage_cursor":{},"nonce":"n"}"#;
        let ack: SyncAck = serde_json::from_str(old).unwrap();
        assert!(ack.users.is_empty() && ack.users_cursor.is_empty() && ack.users_dropped == 0);
    }

    #[test]
    fn request_round_trip_and_tamper() {
        let k = key();
        let req = delta(6, 7);
        let sealed = seal_request(&req, &k);
        assert_eq!(open_request(&sealed.body, Some(&sealed.signature), &k).unwrap(), req);
        // Another key, a flipped body byte, a flipped tag, no tag, an uppercase tag: all refused.
        let stranger = key();
        assert_eq!(open_request(&sealed.body, Some(&sealed.signature), &stranger), Err(SyncError::UnknownKey(k.id())));
        let unnamed = sealed.signature.split_once(',').unwrap().1;
        assert_eq!(open_request(&sealed.body, Some(unnamed), &stranger), Err(SyncError::BadSignature));
        let mut body = sealed.body.clone();
        body[5] ^= 1;
        assert_eq!(open_request(&body, Some(&sealed.signature), &k), Err(SyncError::BadSignature));
        let mut sig = sealed.signature.clone().into_bytes();
        let last = sig.len() - 1;
        sig[last] = if sig[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(open_request(&sealed.body, std::str::from_utf8(&sig).ok(), &k), Err(SyncError::BadSignature));
        assert_eq!(open_request(&sealed.body, None, &k), Err(SyncError::MissingSignature));
        let upper = sealed.signature.to_uppercase().replace("V1=", "v1=").replace("KID=", "kid=");
        assert_eq!(open_request(&sealed.body, Some(&upper), &k), Err(SyncError::MissingSignature));
    }

    #[test]
    fn a_message_names_its_sync_key_and_either_configured_key_opens_it() {
        let (old, new) = (key(), key());
        let both = KeySet::from_keys(vec![new.clone(), old.clone()]).unwrap();
        let req = delta(6, 7);
        let by_old = seal_request(&req, &old);
        assert!(by_old.signature.starts_with(&format!("kid={},v1=", old.id())));
        assert_eq!(open_request_keyed(&by_old.body, Some(&by_old.signature), &both).unwrap(), (req.clone(), old.id()));
        let by_new = seal_request(&req, &new);
        assert_eq!(open_request_keyed(&by_new.body, Some(&by_new.signature), &both).unwrap().1, new.id());
        // An edge that holds only the old key names what it is missing.
        assert_eq!(
            open_request(&by_new.body, Some(&by_new.signature), &KeySet::single(old.clone())),
            Err(SyncError::UnknownKey(new.id()))
        );
        assert_eq!(SyncError::UnknownKey(new.id()).code(), "unknown_sync_key");
        // Without a key id, each configured key is tried.
        let bare = by_old.signature.split_once(',').unwrap().1;
        assert_eq!(open_request_keyed(&by_old.body, Some(bare), &both).unwrap().1, old.id());
        // A key id that lies about the key does not help a forger.
        let lying = format!("kid={},{}", new.id(), bare);
        assert_eq!(open_request(&by_old.body, Some(&lying), &both), Err(SyncError::BadSignature));
        // Header grammar: repeated or unknown parameters are refused.
        for bad in [format!("{bare},{bare}"), format!("kid={0},kid={0},{bare}", old.id()), format!("x=1,{bare}")] {
            assert_eq!(check_signature_header(Some(&bad)), Err(SyncError::MissingSignature), "{bad}");
        }
    }

    #[test]
    fn an_ack_signature_is_not_a_request_signature() {
        let k = key();
        let ack = SyncAck {
            applied_version: 1,
            applied_issued_at: 0,
            regions: vec![RegionAck { region: Region::Wnam, lineage: "l".into(), version: 1, full: None, error: None }],
            outcome: SyncOutcome::Probed,
            usage: vec![],
            usage_cursor: BTreeMap::new(),
            users: BTreeMap::new(),
            users_cursor: BTreeMap::new(),
            users_dropped: 0,
            nonce: "n".into(),
        };
        let sealed = seal_ack(&ack, &k);
        assert_eq!(open_ack(&sealed.body, Some(&sealed.signature), &k, "n").unwrap(), ack);
        assert_eq!(open_ack(&sealed.body, Some(&sealed.signature), &k, "m"), Err(SyncError::NonceMismatch));
        assert_eq!(verify_request_tag(&sealed.body, Some(&sealed.signature), &k), Err(SyncError::BadSignature));
        // Acks open under either key of a configured pair too.
        let both = KeySet::from_keys(vec![key(), k.clone()]).unwrap();
        assert!(open_ack(&sealed.body, Some(&sealed.signature), &both, "n").is_ok());
    }

    #[test]
    fn size_is_checked_before_the_tag_and_versions_must_agree() {
        let k = key();
        assert_eq!(open_request(&vec![b' '; MAX_SYNC_BYTES + 1], None, &k), Err(SyncError::TooLarge));
        let malformed = |req: &SyncRequest| {
            let sealed = seal_request(req, &k);
            matches!(open_request(&sealed.body, Some(&sealed.signature), &k), Err(SyncError::Malformed(_)))
        };
        assert!(malformed(&delta(7, 7)), "a delta that goes nowhere");
        assert!(malformed(&delta(8, 7)), "a delta backwards");
        let mut ahead = delta(6, 7);
        ahead.version = 6;
        assert!(malformed(&ahead), "a delta ahead of the admin");
        let mut extreme = delta(6, 7);
        extreme.version = u64::MAX;
        assert!(malformed(&extreme), "a version beyond 2^53");
        let unnamed = SyncRequest::new(
            "l",
            3,
            SyncBody::Full { id: String::new(), to: 3, seq: 0, last: true, replace: false, orgs: vec![] },
            BTreeMap::new(),
            0,
        )
        .unwrap();
        assert!(malformed(&unnamed));
        let sealed = Sealed { body: b"[1]".to_vec(), signature: seal(&[1], &k, REQUEST_LABEL).signature };
        assert!(matches!(open_request(&sealed.body, Some(&sealed.signature), &k), Err(SyncError::Malformed(_))));
    }

    #[test]
    fn the_ack_tells_where_a_full_state_stands() {
        let region = |region, next: Option<u32>| RegionAck {
            region,
            lineage: "l".into(),
            version: 0,
            full: next.map(|next_seq| FullProgress { id: "f".into(), to: 9, next_seq }),
            error: None,
        };
        let mut ack = SyncAck {
            applied_version: 0,
            applied_issued_at: 0,
            regions: vec![region(Region::Wnam, Some(4)), region(Region::Weur, Some(2))],
            outcome: SyncOutcome::Taken,
            usage: vec![],
            usage_cursor: BTreeMap::new(),
            users: BTreeMap::new(),
            users_cursor: BTreeMap::new(),
            users_dropped: 0,
            nonce: "n".into(),
        };
        assert_eq!(ack.full_progress().unwrap().next_seq, 2, "the slower region decides");
        assert!(ack.follows("l") && !ack.follows("other"));
        ack.regions[1].error = Some("storage full".into());
        assert_eq!(ack.error().unwrap(), "weur: storage full");
    }

    #[test]
    fn state_age_counts_from_when_the_admin_vouched_never_from_the_future() {
        let req = SyncRequest::probe("l", 1, BTreeMap::new(), 0).unwrap();
        assert_eq!(req.vouched_at(1_000), 0, "an unstamped request vouches for nothing");
        let req = SyncRequest::probe("l", 1, BTreeMap::new(), 900).unwrap();
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
        let sealed = seal_request(&SyncRequest::probe("l", 1, BTreeMap::new(), 500).unwrap(), &k);
        let replayed = open_request(&sealed.body, Some(&sealed.signature), &k).unwrap();
        assert!(state_too_old(replayed.vouched_at(10_000), 10_000, Some(60)));
    }
}
