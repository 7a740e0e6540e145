//! The isolate's credential cache: what an edge isolate knows of the
//! credentials it has been asked about, bounded in bytes, and how fresh
//! that knowledge is, per org.
//!
//! The state lives in the regional stores (one per org); an isolate fetches
//! a credential the first time it is asked about it and keeps it here. Per
//! org it remembers the store's change cursor (`epoch`, `seq`) and when it
//! last asked: after `staleness_ms` the next lookup in that org asks again
//! with the cursor, and the store answers what changed since ([`OrgAnswer`]),
//! so the isolate drops exactly those entries and reloads nothing else.
//!
//! Refresh ahead: in the last quarter of an org's freshness, the first lookup
//! in it is told to ask the store (and claims the refresh) while every other
//! lookup is still answered from the cache. Under steady load an org is
//! refreshed by one request before it goes stale, instead of by every request
//! that arrives while the refresh is in flight (with 8 concurrent
//! connections, ~3.5 store calls per staleness period before). Nothing is
//! ever used older than `staleness_ms`: past it, every lookup asks.
//! Entries are evicted least-recently-used once the cache would exceed
//! `max_bytes` (an estimate of each entry's memory, [`weight`]).
//!
//! Pure: the clock (milliseconds) is passed in, and the key ring of a record
//! is made by the caller (it holds the keys).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, KeyRing};
use crate::region::Region;
use crate::state::{EdgeCredential, EdgeOwner};
use crate::types::OrgSlug;

/// A cached credential: its verification record and its keys.
#[derive(Debug)]
pub struct Cached {
    /// The record (with the owner's standing at fetch time).
    pub record: CredentialRecord,
    /// The keys its live secrets verify with.
    pub keys: KeyRing,
}

/// Where a store's change log stands for an org: a lookup sends the one it
/// last saw, and the store answers what changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgCursor {
    /// Changes when the org's records are replaced as a whole (a full state).
    pub epoch: String,
    /// Counts the org's changes within an epoch.
    pub seq: u64,
}

/// A store's answer to a lookup in one org.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrgAnswer {
    /// The org's change log now.
    pub epoch: String,
    /// See `epoch`.
    pub seq: u64,
    /// The cursor asked with is unknown or too old: drop all of the org.
    pub reset: bool,
    /// Credentials changed since the cursor.
    #[serde(default)]
    pub changed_credentials: Vec<String>,
    /// Owners whose standing changed since the cursor.
    #[serde(default)]
    pub changed_owners: Vec<String>,
    /// Where the org's replay guards live.
    #[serde(default)]
    pub home_region: Option<Region>,
    /// The credential asked for, if the org has it.
    #[serde(default)]
    pub credential: Option<EdgeCredential>,
    /// Its owner's standing.
    #[serde(default)]
    pub owner: Option<EdgeOwner>,
}

/// What the cache knows of a credential.
#[derive(Debug, Clone)]
pub enum Found {
    /// The credential, fresh enough.
    Credential(Rc<Cached>),
    /// The org's store has no such credential (fresh enough to say so).
    Absent,
}

/// The answer of [`CredentialCache::lookup`].
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Known, and fresh enough.
    Found(Found),
    /// Ask the org's store, with this cursor (`None`: nothing known of the org).
    Fetch(Option<OrgCursor>),
}

/// Counters, for `/healthz` and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Credentials held (known-absent markers included).
    pub entries: usize,
    /// Their estimated memory.
    pub bytes: usize,
    /// The bound.
    pub max_bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to ask a store.
    pub fetches: u64,
    /// Of the fetches, those that refreshed an org ahead of its staleness.
    pub refreshes_ahead: u64,
    /// Entries evicted to stay under the bound.
    pub evictions: u64,
    /// Entries dropped because the store said they changed.
    pub invalidations: u64,
}

#[derive(Debug)]
struct Entry {
    org: String,
    value: Option<Rc<Cached>>,
    owner: Option<String>,
    tick: u64,
    bytes: usize,
}

#[derive(Debug, Clone)]
struct OrgView {
    cursor: OrgCursor,
    checked_ms: u64,
    home_region: Option<Region>,
    /// A lookup was told to refresh the org ahead of its staleness (reset by
    /// the next answer absorbed).
    refresh_claimed: bool,
}

/// The cache. See the module documentation.
#[derive(Debug)]
pub struct CredentialCache {
    max_bytes: usize,
    staleness_ms: u64,
    entries: HashMap<String, Entry>,
    /// tick → client ID: the least recently used first.
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
    orgs: HashMap<String, OrgView>,
    stats: CacheStats,
    /// Counts [`CredentialCache::forget`]s: an answer fetched before one is
    /// used for its request but not kept (it may predate what was forgotten).
    fence: u64,
}

/// The estimated memory of one live key in a key ring: an HMAC-SHA256 key
/// (two hash states) or a public key, with its generation (a test holds
/// the key ring's element to it).
pub(crate) const PER_KEY: usize = 256;

/// The estimated memory of a cached credential, in bytes: its strings, its
/// key ring ([`PER_KEY`] per live key) and the bookkeeping.
pub fn weight(record: &CredentialRecord) -> usize {
    const FIXED: usize = 384;
    let origins: usize = record.policy.allowed_origins.iter().map(|o| o.as_str().len() + 24).sum();
    FIXED
        + 2 * record.client_id.as_str().len()
        + record.org.as_str().len()
        + record.owner.email.len()
        + origins
        + PER_KEY * record.generations.len()
}

/// The weight of a known-absent marker.
const ABSENT_WEIGHT: usize = 160;

impl CredentialCache {
    /// An empty cache of at most `max_bytes`, asking a store again after `staleness_ms`.
    pub fn new(max_bytes: usize, staleness_ms: u64) -> Self {
        Self {
            max_bytes,
            staleness_ms,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            orgs: HashMap::new(),
            stats: CacheStats { max_bytes, ..CacheStats::default() },
            fence: 0,
        }
    }

    /// The fence to pass to [`CredentialCache::absorb`] for a store answer
    /// fetched from now on.
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// What the cache can say about `client_id` asked for in `org` (the
    /// embed URL's): the credential or its absence when the knowledge is
    /// fresh, else what to ask the org's store. A credential cached under
    /// another org is found as such (the verifier then says `org_mismatch`).
    /// In the last quarter of an org's freshness the first lookup claims its
    /// refresh and is told to ask (see the module documentation).
    pub fn lookup(&mut self, org: &str, client_id: &str, now_ms: u64) -> Lookup {
        if let Some(entry) = self.entries.get(client_id) {
            let same_org = entry.org == org;
            let refresh_from = self.staleness_ms - self.staleness_ms / 4;
            let view = self.orgs.get_mut(&entry.org);
            let age = view.as_ref().map(|v| now_ms.saturating_sub(v.checked_ms));
            let usable = age.is_some_and(|age| age <= self.staleness_ms) && (same_org || entry.value.is_some());
            if usable {
                let claim = match view {
                    Some(v) if !v.refresh_claimed && age.is_some_and(|age| age > refresh_from) => {
                        v.refresh_claimed = true;
                        true
                    }
                    _ => false,
                };
                if !claim {
                    let found = entry.value.clone().map_or(Found::Absent, Found::Credential);
                    self.touch(client_id);
                    self.stats.hits += 1;
                    return Lookup::Found(found);
                }
                self.stats.refreshes_ahead += 1;
            }
        }
        self.stats.fetches += 1;
        Lookup::Fetch(self.orgs.get(org).map(|v| v.cursor.clone()))
    }

    /// The org's change cursor, if the isolate knows the org.
    pub fn cursor(&self, org: &str) -> Option<OrgCursor> {
        self.orgs.get(org).map(|v| v.cursor.clone())
    }

    /// Takes in a store's `answer` for `org` (asked at `now_ms` about
    /// `client_id`, or about nothing but news): drops what changed, notes
    /// the cursor, caches the credential or its absence with keys from
    /// `keys`, and evicts to stay under the bound. Returns what is known of
    /// `client_id` now. An answer fetched before a [`CredentialCache::forget`]
    /// (its `fence`, from [`CredentialCache::fence`], is older) answers its
    /// request but is not kept.
    pub fn absorb(
        &mut self,
        org: &OrgSlug,
        client_id: Option<&str>,
        answer: OrgAnswer,
        now_ms: u64,
        fence: u64,
        keys: impl FnOnce(&OrgSlug, &EdgeCredential) -> KeyRing,
    ) -> Option<Found> {
        if fence != self.fence {
            let found = answer.credential.filter(|c| client_id.is_some_and(|id| c.client_id.as_str() == id)).map(|c| {
                let record = c.record(org, answer.owner.as_ref());
                let keys = keys(org, &c);
                Found::Credential(Rc::new(Cached { record, keys }))
            });
            return client_id.map(|_| found.unwrap_or(Found::Absent));
        }
        let name = org.as_str();
        let known = self.orgs.get(name).map(|v| v.cursor.epoch.clone());
        if answer.reset || known.is_some_and(|epoch| epoch != answer.epoch) {
            let all: Vec<String> =
                self.entries.iter().filter(|(_, e)| e.org == name).map(|(id, _)| id.clone()).collect();
            for id in all {
                self.remove(&id);
                self.stats.invalidations += 1;
            }
        } else {
            for id in &answer.changed_credentials {
                if self.entries.get(id).is_some_and(|e| e.org == name) {
                    self.remove(id);
                    self.stats.invalidations += 1;
                }
            }
            if !answer.changed_owners.is_empty() {
                let stale: Vec<String> = self
                    .entries
                    .iter()
                    .filter(|(_, e)| {
                        e.org == name && e.owner.as_ref().is_some_and(|o| answer.changed_owners.contains(o))
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in stale {
                    self.remove(&id);
                    self.stats.invalidations += 1;
                }
            }
        }
        self.orgs.insert(
            name.to_owned(),
            OrgView {
                cursor: OrgCursor { epoch: answer.epoch, seq: answer.seq },
                checked_ms: now_ms,
                home_region: answer.home_region,
                refresh_claimed: false,
            },
        );
        let client_id = client_id?;
        if let Some(credential) = answer.credential.filter(|c| c.client_id.as_str() == client_id) {
            let record = credential.record(org, answer.owner.as_ref());
            let bytes = weight(&record);
            let keys = keys(org, &credential);
            let cached = Rc::new(Cached { record, keys });
            self.insert(client_id, name, Some(cached.clone()), Some(credential.owner), bytes);
            return Some(Found::Credential(cached));
        }
        // A credential cached under another org stays: only this org's absence is known.
        if self.entries.get(client_id).is_none_or(|e| e.org == name) {
            self.insert(client_id, name, None, None, ABSENT_WEIGHT);
        }
        Some(Found::Absent)
    }

    /// Drops what the cache holds that `changes` touch: the isolate that
    /// applied them stops using the old records at once (every other one
    /// within the staleness bound). A complete org (a full state switched
    /// in) is dropped whole.
    pub fn forget(&mut self, changes: &crate::state::OrgChanges) {
        self.fence += 1;
        let org = changes.org.as_str();
        let doomed: Vec<String> = self
            .entries
            .iter()
            .filter(|(id, e)| {
                e.org == org
                    && (changes.complete
                        || changes.credentials.iter().any(|c| c.client_id.as_str() == id.as_str())
                        || changes.deleted.iter().any(|d| d.client_id.as_str() == id.as_str())
                        || e.owner.as_ref().is_some_and(|o| changes.owners.iter().any(|x| &x.email == o)))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in doomed {
            self.remove(&id);
            self.stats.invalidations += 1;
        }
        // A credential new to the org may be cached as absent under another org's URL.
        for c in &changes.credentials {
            if self.entries.get(c.client_id.as_str()).is_some_and(|e| e.value.is_none()) {
                self.remove(c.client_id.as_str());
            }
        }
        if changes.complete {
            self.orgs.remove(org);
        }
    }

    /// Where `org`'s replay guards live, as its store last said.
    pub fn home_region(&self, org: &str) -> Option<Region> {
        self.orgs.get(org).and_then(|v| v.home_region)
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats { entries: self.entries.len(), bytes: self.bytes, ..self.stats }
    }

    fn touch(&mut self, client_id: &str) {
        self.tick += 1;
        if let Some(entry) = self.entries.get_mut(client_id) {
            self.order.remove(&entry.tick);
            entry.tick = self.tick;
            self.order.insert(self.tick, client_id.to_owned());
        }
    }

    fn insert(&mut self, client_id: &str, org: &str, value: Option<Rc<Cached>>, owner: Option<String>, bytes: usize) {
        self.remove(client_id);
        self.tick += 1;
        self.order.insert(self.tick, client_id.to_owned());
        self.entries.insert(client_id.to_owned(), Entry { org: org.to_owned(), value, owner, tick: self.tick, bytes });
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes -= entry.bytes;
                self.stats.evictions += 1;
            }
        }
    }

    fn remove(&mut self, client_id: &str) {
        if let Some(entry) = self.entries.remove(client_id) {
            self.order.remove(&entry.tick);
            self.bytes -= entry.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::credential::{Policy, SecretGeneration};
    use crate::rules::MemberStatus;
    use crate::secret::EmbedSecret;
    use crate::types::{AccountType, ClientId, Privilege};

    fn credential(owner: &str, version: u64) -> EdgeCredential {
        EdgeCredential {
            client_id: ClientId::generate().unwrap(),
            owner: owner.into(),
            privileges: [Privilege::Embedding].into(),
            secrets: vec![SecretGeneration { generation: 1, key: None, public_key: None }],
            policy: Policy::default(),
            revoked_at: None,
            version,
        }
    }

    fn answer(epoch: &str, seq: u64, credential: Option<EdgeCredential>) -> OrgAnswer {
        let owner = credential.as_ref().map(|c| EdgeOwner {
            email: c.owner.clone(),
            account_type: AccountType::Admin,
            status: MemberStatus::Active,
            version: 1,
        });
        OrgAnswer { epoch: epoch.into(), seq, credential, owner, ..OrgAnswer::default() }
    }

    fn keys(_: &OrgSlug, _: &EdgeCredential) -> KeyRing {
        KeyRing::from_secret(&EmbedSecret::new("k".into()), 1)
    }

    fn org(name: &str) -> OrgSlug {
        name.parse().unwrap()
    }

    #[test]
    fn a_credential_is_fetched_once_then_served_until_stale() {
        let mut cache = CredentialCache::new(1 << 20, 500);
        let c = credential("a@x.test", 1);
        let id = c.client_id.as_str().to_owned();
        assert!(matches!(cache.lookup("acme", &id, 0), Lookup::Fetch(None)));
        let found = cache.absorb(&org("acme"), Some(&id), answer("e1", 1, Some(c)), 0, cache.fence(), keys);
        assert!(matches!(found, Some(Found::Credential(_))));
        assert!(matches!(cache.lookup("acme", &id, 375), Lookup::Found(Found::Credential(_))));
        match cache.lookup("acme", &id, 501) {
            Lookup::Fetch(Some(cursor)) => assert_eq!(cursor, OrgCursor { epoch: "e1".into(), seq: 1 }),
            other => panic!("{other:?}"),
        }
        assert!(matches!(cache.lookup("acme", &id, 502), Lookup::Fetch(_)), "past the bound every lookup asks");
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.hits, stats.fetches, stats.refreshes_ahead), (1, 1, 3, 0));
    }

    #[test]
    fn one_lookup_refreshes_an_org_ahead_of_its_staleness_while_the_others_use_the_cache() {
        let mut cache = CredentialCache::new(1 << 20, 500);
        let (a, b) = (credential("a@x.test", 1), credential("b@x.test", 1));
        let (id_a, id_b) = (a.client_id.as_str().to_owned(), b.client_id.as_str().to_owned());
        cache.absorb(&org("acme"), Some(&id_a), answer("e1", 1, Some(a)), 0, cache.fence(), keys);
        cache.absorb(&org("acme"), Some(&id_b), answer("e1", 1, Some(b)), 0, cache.fence(), keys);
        // In the last quarter (375 < age <= 500): the first lookup in the org asks, the rest,
        // of any of its credentials, are answered while that refresh is in flight.
        assert!(matches!(cache.lookup("acme", &id_a, 376), Lookup::Fetch(Some(_))));
        for t in [380, 420, 500] {
            assert!(matches!(cache.lookup("acme", &id_a, t), Lookup::Found(Found::Credential(_))), "at {t}");
            assert!(matches!(cache.lookup("acme", &id_b, t), Lookup::Found(Found::Credential(_))), "at {t}");
        }
        // The claimed refresh never came back (its request failed): past the bound, everyone asks.
        assert!(matches!(cache.lookup("acme", &id_b, 501), Lookup::Fetch(Some(_))));
        assert!(matches!(cache.lookup("acme", &id_a, 501), Lookup::Fetch(Some(_))));
        // An answer resets the claim: the next period has its own single refresh.
        cache.absorb(&org("acme"), None, answer("e1", 1, None), 510, cache.fence(), keys);
        assert!(matches!(cache.lookup("acme", &id_b, 700), Lookup::Found(_)));
        assert!(matches!(cache.lookup("acme", &id_b, 886), Lookup::Fetch(Some(_))));
        assert!(matches!(cache.lookup("acme", &id_a, 887), Lookup::Found(_)));
        let stats = cache.stats();
        assert_eq!((stats.fetches, stats.refreshes_ahead), (4, 2));
    }

    #[test]
    fn news_drops_exactly_what_changed() {
        let mut cache = CredentialCache::new(1 << 20, 500);
        let (a, b, c) = (credential("a@x.test", 1), credential("b@x.test", 1), credential("a@x.test", 1));
        let ids: Vec<String> = [&a, &b, &c].iter().map(|c| c.client_id.as_str().to_owned()).collect();
        for cred in [a, b, c] {
            let id = cred.client_id.as_str().to_owned();
            cache.absorb(&org("acme"), Some(&id), answer("e1", 1, Some(cred)), 0, cache.fence(), keys);
        }
        // Credential b changed; nothing else did.
        let news = OrgAnswer { changed_credentials: vec![ids[1].clone()], ..answer("e1", 2, None) };
        cache.absorb(&org("acme"), None, news, 600, cache.fence(), keys);
        assert!(matches!(cache.lookup("acme", &ids[0], 700), Lookup::Found(Found::Credential(_))));
        assert!(matches!(cache.lookup("acme", &ids[1], 700), Lookup::Fetch(Some(_))));
        // Owner a's standing changed: both of a's credentials go, b's (refetched) would stay.
        let news = OrgAnswer { changed_owners: vec!["a@x.test".into()], ..answer("e1", 3, None) };
        cache.absorb(&org("acme"), None, news, 800, cache.fence(), keys);
        assert!(matches!(cache.lookup("acme", &ids[0], 900), Lookup::Fetch(_)));
        assert!(matches!(cache.lookup("acme", &ids[2], 900), Lookup::Fetch(_)));
        // A new epoch (the org was replaced) drops everything of the org.
        let d = credential("d@x.test", 1);
        let d_id = d.client_id.as_str().to_owned();
        cache.absorb(&org("acme"), Some(&d_id), answer("e1", 3, Some(d)), 1_000, cache.fence(), keys);
        cache.absorb(&org("acme"), None, answer("e2", 0, None), 1_100, cache.fence(), keys);
        assert!(matches!(cache.lookup("acme", &d_id, 1_200), Lookup::Fetch(Some(_))));
        assert!(cache.stats().invalidations >= 4);
    }

    #[test]
    fn the_isolate_that_applied_changes_forgets_what_they_touch() {
        let mut cache = CredentialCache::new(1 << 20, 10_000);
        let (a, b) = (credential("a@x.test", 1), credential("b@x.test", 1));
        for c in [&a, &b] {
            let id = c.client_id.as_str().to_owned();
            cache.absorb(&org("acme"), Some(&id), answer("e", 1, Some(c.clone())), 0, cache.fence(), keys);
        }
        let mut changes = crate::state::OrgChanges::new(org("acme"));
        changes.credentials.push(credential("a@x.test", 2));
        changes.credentials[0].client_id = a.client_id.clone();
        let before = cache.fence();
        cache.forget(&changes);
        assert!(matches!(cache.lookup("acme", a.client_id.as_str(), 1), Lookup::Fetch(_)), "a changed: refetched");
        // An answer fetched before the forget answers its request but is not kept.
        let id = a.client_id.as_str().to_owned();
        let late = cache.absorb(&org("acme"), Some(&id), answer("e", 1, Some(a.clone())), 2, before, keys);
        assert!(matches!(late, Some(Found::Credential(_))));
        assert!(matches!(cache.lookup("acme", &id, 3), Lookup::Fetch(_)), "the late answer was not kept");
        assert!(matches!(cache.lookup("acme", b.client_id.as_str(), 1), Lookup::Found(_)), "b untouched");
        let complete = crate::state::OrgChanges { complete: true, ..crate::state::OrgChanges::new(org("acme")) };
        cache.forget(&complete);
        assert!(matches!(cache.lookup("acme", b.client_id.as_str(), 1), Lookup::Fetch(None)), "the org was replaced");
    }

    #[test]
    fn absence_and_other_orgs() {
        let mut cache = CredentialCache::new(1 << 20, 500);
        let c = credential("a@x.test", 1);
        let id = c.client_id.as_str().to_owned();
        // Not in globex: known absent there for a while.
        assert!(matches!(
            cache.absorb(&org("globex"), Some(&id), answer("g", 1, None), 0, cache.fence(), keys),
            Some(Found::Absent)
        ));
        assert!(matches!(cache.lookup("globex", &id, 100), Lookup::Found(Found::Absent)));
        // It is acme's: found under acme, and then asked for on globex's URL it is acme's credential.
        cache.absorb(&org("acme"), Some(&id), answer("a", 1, Some(c)), 100, cache.fence(), keys);
        match cache.lookup("globex", &id, 200) {
            Lookup::Found(Found::Credential(found)) => assert_eq!(found.record.org.as_str(), "acme"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memory_stays_under_the_bound_least_recently_used_first() {
        let one = weight(&credential("a@x.test", 1).record(&org("acme"), None));
        let mut cache = CredentialCache::new(one * 3, 10_000);
        let creds: Vec<EdgeCredential> = (0..10).map(|_| credential("a@x.test", 1)).collect();
        for (i, c) in creds.iter().enumerate() {
            let id = c.client_id.as_str().to_owned();
            cache.absorb(&org("acme"), Some(&id), answer("e", 1, Some(c.clone())), i as u64, cache.fence(), keys);
            if i >= 1 {
                // Keep the first one in use: it must survive.
                let first = creds[0].client_id.as_str();
                assert!(matches!(cache.lookup("acme", first, i as u64), Lookup::Found(_)), "{i}");
            }
            assert!(cache.stats().bytes <= one * 3, "{i}: {:?}", cache.stats());
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 3);
        assert_eq!(stats.evictions, 7);
    }
}
