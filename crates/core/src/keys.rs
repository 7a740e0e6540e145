//! The key hierarchy (architecture.md §9): what wraps what, and the ids
//! that let two keys of a kind be live at once during a rotation.
//!
//! ```text
//! master key (admin config, never stored)  ──wraps──▶ org key (one per org, in the database)
//! org key ──derives──▶ embed secret = HMAC(org key, "embedgate/v2" ‖ org ‖ client ID ‖ generation)
//! edge key (admin config + Worker secret)  ──wraps──▶ each live secret an edge verifies with
//! sync key (admin config + Worker secret)  ──MACs───▶ every sync message (named by its id)
//! ```
//!
//! Wrapping is XChaCha20-Poly1305 with a random 192-bit nonce; the
//! associated data binds the purpose, the wrapping key's id and what the
//! wrapped key belongs to (org, client ID, generation), so a wrapped value
//! moved to another record, org or purpose does not open. A [`KeyId`] is a
//! public fingerprint of a key (64 bits of an HMAC under the key itself): it
//! names a key in configuration, `/healthz` and wrapped values without
//! revealing it.

use core::fmt;
use core::str::FromStr;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::jws::{b64url_decode, b64url_encode};
use crate::printable::KEY_BYTES;
use crate::secret::{EdgeKey, EmbedSecret, KeyError, MasterKey, SyncKey};
use crate::types::{ClientId, OrgSlug};

/// Bytes of a key id (rendered as 16 hex digits).
pub const KEY_ID_BYTES: usize = 8;
/// At most this many keys of one kind are configured at once: the current
/// one and the one being rotated in or out.
pub const MAX_LIVE_KEYS: usize = 2;

const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// The largest plaintext ever wrapped (an embed secret is 62 bytes).
const MAX_PLAINTEXT: usize = 256;

/// The public fingerprint of a key: `HMAC-SHA256(key, "embedgate/key-id/v1" ‖ kind)`, first 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KEY_ID_BYTES]);

impl KeyId {
    fn of(kind: &str, key: &[u8; KEY_BYTES]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(b"embedgate/key-id/v1\0");
        mac.update(kind.as_bytes());
        let mut id = [0u8; KEY_ID_BYTES];
        id.copy_from_slice(&mac.finalize().into_bytes()[..KEY_ID_BYTES]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = s.as_bytes();
        if bytes.len() != 2 * KEY_ID_BYTES {
            return Err(KeyError::Format("key id"));
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut id = [0u8; KEY_ID_BYTES];
        for (o, pair) in id.iter_mut().zip(bytes.chunks_exact(2)) {
            *o = (nibble(pair[0]).ok_or(KeyError::Format("key id"))? << 4)
                | nibble(pair[1]).ok_or(KeyError::Format("key id"))?;
        }
        Ok(Self(id))
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <&str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A key of the hierarchy that has an id and can be configured as a set.
pub trait NamedKey: Sized {
    /// What the key is called in messages ("master key", …).
    const WHAT: &'static str;
    /// Reads the key from its printable form.
    fn parse(text: &str) -> Result<Self, KeyError>;
    /// Its public id.
    fn id(&self) -> KeyId;
}

macro_rules! named_key {
    ($name:ident) => {
        impl NamedKey for $name {
            const WHAT: &'static str = <$name>::WHAT;

            fn parse(text: &str) -> Result<Self, KeyError> {
                Self::from_printable(text)
            }

            fn id(&self) -> KeyId {
                KeyId::of(Self::WHAT, self.expose_bytes())
            }
        }
    };
}

named_key!(MasterKey);
named_key!(SyncKey);
named_key!(EdgeKey);

/// The configured keys of one kind: the current one first (what new
/// material is wrapped or sealed with), then at most one more that is still
/// accepted. Configured as one value, comma-separated: `egk_new,egk_old`.
pub struct KeySet<K> {
    keys: Vec<(KeyId, K)>,
}

impl<K: NamedKey> KeySet<K> {
    /// A set of one key.
    pub fn single(key: K) -> Self {
        Self { keys: vec![(key.id(), key)] }
    }

    /// Reads `current[,other]`: one or two distinct keys.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys: Vec<(KeyId, K)> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let key = K::parse(part)?;
            let id = key.id();
            if keys.iter().any(|(k, _)| *k == id) {
                return Err(KeyError::Duplicate(K::WHAT, id));
            }
            keys.push((id, key));
        }
        match keys.len() {
            0 => Err(KeyError::Format(K::WHAT)),
            n if n > MAX_LIVE_KEYS => Err(KeyError::TooMany(K::WHAT)),
            _ => Ok(Self { keys }),
        }
    }

    /// A set of the given keys, current first (for tests and the CLI).
    pub fn from_keys(keys: Vec<K>) -> Result<Self, KeyError> {
        let mut set: Option<Self> = None;
        for key in keys {
            let id = key.id();
            match &mut set {
                None => set = Some(Self::single(key)),
                Some(s) if s.get(id).is_some() => return Err(KeyError::Duplicate(K::WHAT, id)),
                Some(s) if s.keys.len() >= MAX_LIVE_KEYS => return Err(KeyError::TooMany(K::WHAT)),
                Some(s) => s.keys.push((id, key)),
            }
        }
        set.ok_or(KeyError::Format(K::WHAT))
    }

    /// The current key.
    pub fn current(&self) -> &K {
        &self.keys[0].1
    }

    /// The current key's id.
    pub fn current_id(&self) -> KeyId {
        self.keys[0].0
    }

    /// The key with `id`, if configured.
    pub fn get(&self, id: KeyId) -> Option<&K> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, key)| key)
    }

    /// The ids, current first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    /// The keys with their ids, current first.
    pub fn iter(&self) -> impl Iterator<Item = (KeyId, &K)> {
        self.keys.iter().map(|(id, k)| (*id, k))
    }

    fn require(&self, id: KeyId) -> Result<&K, KeyError> {
        self.get(id).ok_or(KeyError::UnknownKeyId(K::WHAT, id))
    }
}

impl<K> fmt::Debug for KeySet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySet[")?;
        for (i, (id, _)) in self.keys.iter().enumerate() {
            write!(f, "{}{id}: <redacted>", if i == 0 { "" } else { ", " })?;
        }
        f.write_str("]")
    }
}

/// One org's key material: 256 random bits, stored only wrapped under the
/// master key. Every embed secret of the org derives from it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OrgKey([u8; KEY_BYTES]);

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OrgKey(<redacted>)")
    }
}

/// A key wrapped (AEAD-sealed) under another: the wrapping key's id and
/// `nonce ‖ ciphertext ‖ tag`, serialized as `"<key id>.<base64url>"`.
#[derive(Clone, PartialEq, Eq)]
pub struct Wrapped {
    kid: KeyId,
    sealed: Vec<u8>,
}

impl Wrapped {
    /// The id of the key it is wrapped under.
    pub fn key_id(&self) -> KeyId {
        self.kid
    }

    /// Its serialized length in bytes.
    pub fn encoded_len(&self) -> usize {
        2 * KEY_ID_BYTES + 1 + self.sealed.len().div_ceil(3) * 4
    }
}

impl fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wrapped({}, <redacted> {} bytes)", self.kid, self.sealed.len())
    }
}

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kid, b64url_encode(&self.sealed))
    }
}

impl FromStr for Wrapped {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        const BAD: KeyError = KeyError::Format("wrapped key");
        let (kid, sealed) = s.split_once('.').ok_or(BAD)?;
        let kid = kid.parse().map_err(|_| BAD)?;
        if sealed.len() > (NONCE_BYTES + TAG_BYTES + MAX_PLAINTEXT).div_ceil(3) * 4 {
            return Err(BAD);
        }
        let sealed = b64url_decode(sealed).ok_or(BAD)?;
        if sealed.len() < NONCE_BYTES + TAG_BYTES {
            return Err(BAD);
        }
        Ok(Self { kid, sealed })
    }
}

impl Serialize for Wrapped {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Wrapped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a wrapped value is for; part of its associated data.
#[derive(Clone, Copy)]
enum Purpose {
    /// An org key under the master key; context: org, epoch.
    OrgKey,
    /// A live embed secret under an edge key; context: org, client ID, generation.
    EdgeSecret,
    /// A secret that cannot be derived (issued under the retired v1 scheme)
    /// under its org's key; context: org, client ID, generation.
    SealedSecret,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::OrgKey => b"org-key",
            Self::EdgeSecret => b"edge-secret",
            Self::SealedSecret => b"sealed-secret",
        }
    }
}

fn associated_data(purpose: Purpose, kid: KeyId, context: &[&[u8]]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"embedgate/wrap/v1\0");
    aad.extend_from_slice(purpose.label());
    aad.push(0);
    aad.extend_from_slice(&kid.0);
    for part in context {
        // Length-prefixed, so no two contexts encode alike.
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

fn wrap(
    key: &[u8; KEY_BYTES],
    kid: KeyId,
    purpose: Purpose,
    context: &[&[u8]],
    plaintext: &[u8],
) -> Result<Wrapped, KeyError> {
    debug_assert!(plaintext.len() <= MAX_PLAINTEXT);
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(KeyError::Random)?;
    let aad = associated_data(purpose, kid, context);
    let cipher = XChaCha20Poly1305::new(key.into());
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| KeyError::Unwrap(kid))?;
    let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(Wrapped { kid, sealed })
}

fn unwrap(
    key: &[u8; KEY_BYTES],
    wrapped: &Wrapped,
    purpose: Purpose,
    context: &[&[u8]],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (nonce, ciphertext) = wrapped.sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| KeyError::Unwrap(wrapped.kid))?;
    let aad = associated_data(purpose, wrapped.kid, context);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Unwrap(wrapped.kid))
}

fn secret_context<'a>(org: &'a OrgSlug, client_id: &'a ClientId, generation: &'a [u8; 4]) -> [&'a [u8]; 3] {
    [org.as_str().as_bytes(), client_id.as_str().as_bytes(), generation]
}

fn secret_from(plain: &[u8]) -> Result<EmbedSecret, KeyError> {
    let text = core::str::from_utf8(plain).map_err(|_| KeyError::Format("embed secret"))?;
    Ok(EmbedSecret::new(text.to_owned()))
}

impl OrgKey {
    /// New random key material for an org.
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(KeyError::Random)?;
        Ok(Self(key))
    }

    fn id(&self) -> KeyId {
        KeyId::of("org key", &self.0)
    }

    /// The embed secret of `client_id`'s `generation` in `org`
    /// ([`crate::Kdf::V2`]): `HMAC-SHA256(org key, "embedgate/v2" ‖ 0 ‖ org ‖ 0 ‖
    /// client_id ‖ 0 ‖ generation as u32 big-endian)`, in the `egs_` form.
    pub fn derive_embed_secret(&self, org: &OrgSlug, client_id: &ClientId, generation: u32) -> EmbedSecret {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(b"embedgate/v2\0");
        mac.update(org.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(client_id.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(&generation.to_be_bytes());
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        EmbedSecret::from_key_bytes(&key)
    }

    /// Seals a secret that cannot be derived from this key (one issued under
    /// the retired [`crate::Kdf::V1`]) so it can be stored beside the org's key.
    pub fn seal_secret(
        &self,
        org: &OrgSlug,
        client_id: &ClientId,
        generation: u32,
        secret: &EmbedSecret,
    ) -> Result<Wrapped, KeyError> {
        let g = generation.to_be_bytes();
        wrap(&self.0, self.id(), Purpose::SealedSecret, &secret_context(org, client_id, &g), secret.hmac_key())
    }

    /// Opens a secret sealed with [`OrgKey::seal_secret`].
    pub fn open_secret(
        &self,
        org: &OrgSlug,
        client_id: &ClientId,
        generation: u32,
        sealed: &Wrapped,
    ) -> Result<EmbedSecret, KeyError> {
        if sealed.kid != self.id() {
            return Err(KeyError::UnknownKeyId("org key", sealed.kid));
        }
        let g = generation.to_be_bytes();
        secret_from(&unwrap(&self.0, sealed, Purpose::SealedSecret, &secret_context(org, client_id, &g))?)
    }
}

impl MasterKey {
    /// Wraps `org`'s key material (its `epoch`-th) for storage.
    pub fn wrap_org_key(&self, org: &OrgSlug, epoch: u32, key: &OrgKey) -> Result<Wrapped, KeyError> {
        wrap(self.expose_bytes(), self.id(), Purpose::OrgKey, &[org.as_str().as_bytes(), &epoch.to_be_bytes()], &key.0)
    }
}

impl KeySet<MasterKey> {
    /// Opens `org`'s wrapped key with whichever configured master key it names.
    pub fn unwrap_org_key(&self, org: &OrgSlug, epoch: u32, wrapped: &Wrapped) -> Result<OrgKey, KeyError> {
        let master = self.require(wrapped.kid)?;
        let plain =
            unwrap(master.expose_bytes(), wrapped, Purpose::OrgKey, &[org.as_str().as_bytes(), &epoch.to_be_bytes()])?;
        let bytes: [u8; KEY_BYTES] = plain.as_slice().try_into().map_err(|_| KeyError::Unwrap(wrapped.kid))?;
        Ok(OrgKey(bytes))
    }
}

impl EdgeKey {
    /// Wraps one live secret of `client_id` for an edge that holds this key.
    pub fn wrap_secret(
        &self,
        org: &OrgSlug,
        client_id: &ClientId,
        generation: u32,
        secret: &EmbedSecret,
    ) -> Result<Wrapped, KeyError> {
        let g = generation.to_be_bytes();
        wrap(
            self.expose_bytes(),
            self.id(),
            Purpose::EdgeSecret,
            &secret_context(org, client_id, &g),
            secret.hmac_key(),
        )
    }

    /// The key edge sessions are sealed under: `HMAC-SHA256(edge key, "embedgate/edge-session/v2")`.
    pub(crate) fn session_key(&self) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.expose_bytes()).expect("HMAC accepts any key length");
        mac.update(b"embedgate/edge-session/v2\0");
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

impl KeySet<EdgeKey> {
    /// Opens a live secret wrapped for the edges, with whichever configured
    /// edge key it names.
    pub fn unwrap_secret(
        &self,
        org: &OrgSlug,
        client_id: &ClientId,
        generation: u32,
        wrapped: &Wrapped,
    ) -> Result<EmbedSecret, KeyError> {
        let key = self.require(wrapped.kid)?;
        let g = generation.to_be_bytes();
        secret_from(&unwrap(key.expose_bytes(), wrapped, Purpose::EdgeSecret, &secret_context(org, client_id, &g))?)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn org(s: &str) -> OrgSlug {
        s.parse().unwrap()
    }

    #[test]
    fn key_ids_are_stable_public_and_per_kind() {
        let bytes = core::array::from_fn(|i| u8::try_from(i).unwrap());
        let id = KeyId::of("master key", &bytes);
        assert_eq!(id, KeyId::of("master key", &bytes));
        assert_ne!(id, KeyId::of("edge key", &bytes), "the same bytes as another kind get another id");
        let text = id.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(text.parse::<KeyId>().unwrap(), id);
        for bad in ["", "0123", "0123456789abcdeF", "0123456789abcdeg", "0123456789abcdef0"] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn key_sets_take_one_or_two_distinct_keys() {
        let a = SyncKey::generate().unwrap();
        let b = SyncKey::generate().unwrap();
        let (pa, pb) = (a.to_printable(), b.to_printable());
        let one = KeySet::<SyncKey>::parse(&pa).unwrap();
        assert_eq!(one.ids(), [a.id()]);
        let two = KeySet::<SyncKey>::parse(&format!(" {} , {} ", pb.as_str(), pa.as_str())).unwrap();
        assert_eq!(two.ids(), [b.id(), a.id()], "current first");
        assert_eq!(two.current_id(), b.id());
        assert!(two.get(a.id()).is_some());
        let c = SyncKey::generate().unwrap().to_printable();
        assert!(matches!(
            KeySet::<SyncKey>::parse(&format!("{},{},{}", pa.as_str(), pb.as_str(), c.as_str())),
            Err(KeyError::TooMany(_))
        ));
        assert!(matches!(
            KeySet::<SyncKey>::parse(&format!("{},{}", pa.as_str(), pa.as_str())),
            Err(KeyError::Duplicate(..))
        ));
        assert!(KeySet::<SyncKey>::parse("").is_err());
        assert!(KeySet::<SyncKey>::parse(&format!("{},egk_typo", pa.as_str())).is_err());
        // Another kind's key is not this kind's.
        assert!(KeySet::<EdgeKey>::parse(&pa).is_err());
        assert!(!format!("{two:?}").contains(pa.as_str()));
    }

    #[test]
    fn org_keys_wrap_under_the_master_key_bound_to_org_and_epoch() {
        let master = MasterKey::generate().unwrap();
        let masters = KeySet::single(master.clone());
        let key = OrgKey::generate().unwrap();
        let wrapped = master.wrap_org_key(&org("acme"), 1, &key).unwrap();
        assert_eq!(wrapped.key_id(), master.id());
        let back = masters.unwrap_org_key(&org("acme"), 1, &wrapped).unwrap();
        assert_eq!(back.0, key.0);
        // Moved to another org or epoch, it does not open.
        assert!(matches!(masters.unwrap_org_key(&org("globex"), 1, &wrapped), Err(KeyError::Unwrap(_))));
        assert!(matches!(masters.unwrap_org_key(&org("acme"), 2, &wrapped), Err(KeyError::Unwrap(_))));
        // Another master key is named by its id.
        let other = KeySet::single(MasterKey::generate().unwrap());
        assert!(matches!(other.unwrap_org_key(&org("acme"), 1, &wrapped), Err(KeyError::UnknownKeyId(..))));
        // A flipped byte does not open; the text form round-trips.
        let text = wrapped.to_string();
        assert_eq!(text.parse::<Wrapped>().unwrap(), wrapped);
        let mut flipped = wrapped.clone();
        let last = flipped.sealed.len() - 1;
        flipped.sealed[last] ^= 1;
        assert!(masters.unwrap_org_key(&org("acme"), 1, &flipped).is_err());
        // Two wraps of the same key differ (random nonce) and both open.
        let again = master.wrap_org_key(&org("acme"), 1, &key).unwrap();
        assert_ne!(again, wrapped);
        assert_eq!(masters.unwrap_org_key(&org("acme"), 1, &again).unwrap().0, key.0);
    }

    #[test]
    fn secrets_derive_from_the_org_key_with_org_client_and_generation_bound() {
        let key = OrgKey::generate().unwrap();
        let c1 = ClientId::generate().unwrap();
        let c2 = ClientId::generate().unwrap();
        let s = |o: &str, c: &ClientId, g| key.derive_embed_secret(&org(o), c, g).expose_secret().to_owned();
        assert_eq!(s("acme", &c1, 1), s("acme", &c1, 1));
        assert_ne!(s("acme", &c1, 1), s("acme", &c1, 2));
        assert_ne!(s("acme", &c1, 1), s("acme", &c2, 1));
        assert_ne!(s("acme", &c1, 1), s("globex", &c1, 1), "the org is bound in");
        assert!(crate::looks_like_embed_secret(&s("acme", &c1, 1)));
        let other = OrgKey::generate().unwrap();
        assert_ne!(other.derive_embed_secret(&org("acme"), &c1, 1).expose_secret(), s("acme", &c1, 1));
    }

    #[test]
    fn derivation_v2_is_pinned() {
        let key = OrgKey(core::array::from_fn(|i| u8::try_from(i).unwrap()));
        let c: ClientId = "00112233445566778899aabbccddeeff".parse().unwrap();
        let s = key.derive_embed_secret(&org("acme"), &c, 1);
        assert_eq!(s.expose_secret(), include_str!("../tests/vectors/kdf_v2.txt").trim());
    }

    #[test]
    fn edge_secrets_open_only_for_their_record_under_a_configured_edge_key() {
        let (k1, k2) = (EdgeKey::generate().unwrap(), EdgeKey::generate().unwrap());
        let c = ClientId::generate().unwrap();
        let secret = EmbedSecret::generate().unwrap();
        let w = k1.wrap_secret(&org("acme"), &c, 3, &secret).unwrap();
        let both = KeySet::from_keys(vec![k2.clone(), k1.clone()]).unwrap();
        assert_eq!(both.unwrap_secret(&org("acme"), &c, 3, &w).unwrap().expose_secret(), secret.expose_secret());
        assert!(matches!(both.unwrap_secret(&org("acme"), &c, 4, &w), Err(KeyError::Unwrap(_))));
        assert!(both.unwrap_secret(&org("globex"), &c, 3, &w).is_err());
        assert!(both.unwrap_secret(&org("acme"), &ClientId::generate().unwrap(), 3, &w).is_err());
        let only_k2 = KeySet::single(k2);
        assert!(matches!(only_k2.unwrap_secret(&org("acme"), &c, 3, &w), Err(KeyError::UnknownKeyId(..))));
        // A wrapped secret is not an org key, even under a key with the same bytes.
        let same_bytes = MasterKey::from_printable(&k1.to_printable().replacen("ege_", "egm_", 1));
        assert!(same_bytes.is_err(), "prefixes are part of the checksum");
    }

    #[test]
    fn sealed_secrets_open_only_under_their_org_key_and_record() {
        let key = OrgKey::generate().unwrap();
        let c = ClientId::generate().unwrap();
        let secret = EmbedSecret::generate().unwrap();
        let sealed = key.seal_secret(&org("acme"), &c, 1, &secret).unwrap();
        assert_eq!(key.open_secret(&org("acme"), &c, 1, &sealed).unwrap().expose_secret(), secret.expose_secret());
        assert!(key.open_secret(&org("acme"), &c, 2, &sealed).is_err());
        assert!(OrgKey::generate().unwrap().open_secret(&org("acme"), &c, 1, &sealed).is_err());
    }

    #[test]
    fn wrapped_text_is_checked_before_use() {
        for bad in ["", ".", "zz.AAAA", "0123456789abcdef", "0123456789abcdef.AAAA", "0123456789abcdef.!!!!"] {
            assert!(bad.parse::<Wrapped>().is_err(), "{bad}");
        }
        let huge = format!("0123456789abcdef.{}", "A".repeat(10_000));
        assert!(huge.parse::<Wrapped>().is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = OrgKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), "OrgKey(<redacted>)");
        let e = EdgeKey::generate().unwrap();
        assert!(!format!("{e:?}").contains(e.to_printable().as_str()));
    }
}
