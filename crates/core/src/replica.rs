//! A regional replica's bookkeeping at the edge, as pure decisions: which
//! sync message it may take ([`ReplicaMeta::admit`]) and where taking one
//! leaves it ([`ReplicaMeta::commit`]). The edge's `RegionHead` Durable
//! Object stores this value and asks these functions; it decides nothing
//! itself.

use serde::{Deserialize, Serialize};

use crate::state::{check_step, StateError};
use crate::sync::{FullProgress, SyncBody};

/// One region's applied state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMeta {
    /// The lineage of the admin database whose state this is (empty: none yet).
    #[serde(default)]
    pub lineage: String,
    /// The applied version (0: nothing yet).
    pub version: u64,
    /// When the admin sent the message that brought it there (Unix seconds, admin clock).
    pub issued_at: i64,
    /// Until when the admin has vouched for this state: the latest `sent_at`
    /// of an authentic sync message, clamped to the edge's clock (0: never).
    pub synced_at: i64,
    /// A full state being taken, page by page.
    #[serde(default)]
    pub full: Option<FullProgress>,
    /// Why the last message could not be taken (cleared by the next one taken).
    #[serde(default)]
    pub error: Option<String>,
}

/// What a replica does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Take it: apply its records, then [`ReplicaMeta::commit`].
    Proceed,
    /// It brings nothing: the replica is already there.
    Current,
    /// It is older than what the replica has (anti-rollback).
    Stale,
    /// It does not start where the replica is (a delta from elsewhere, a page out of order).
    Gap,
    /// Its version is out of range or too far ahead.
    Refused(StateError),
}

impl ReplicaMeta {
    /// Notes that the admin vouched for the state at `vouched_at` (never lowered).
    pub fn vouch(&mut self, vouched_at: i64) {
        self.synced_at = self.synced_at.max(vouched_at);
    }

    /// Whether the replica may take `body`:
    /// - a probe always (nothing to apply);
    /// - a delta from `from` to `to`: when the replica is at `from` or
    ///   between (its records are idempotent), not when already at `to`,
    ///   not when behind `from`;
    /// - a page `seq` of a full state at `to`: page 0 starts it (any earlier
    ///   one in progress is dropped), later pages only in order and of the
    ///   same full state; never one older than the replica.
    ///
    /// Every forward step is bounded ([`check_step`]). A delta of another
    /// `lineage` than the replica's state is a gap (only a full state can
    /// replace another lineage's state).
    pub fn admit(&self, lineage: &str, body: &SyncBody) -> Admit {
        match body {
            SyncBody::Probe => Admit::Current,
            SyncBody::Delta { .. } if lineage != self.lineage => Admit::Gap,
            SyncBody::Delta { from, to, .. } => {
                if self.version >= *to {
                    Admit::Current
                } else if self.version < *from {
                    Admit::Gap
                } else {
                    check_step(self.version, *to).map_or_else(Admit::Refused, |()| Admit::Proceed)
                }
            }
            SyncBody::Full { id, to, seq, .. } => {
                let same = lineage == self.lineage;
                if same && self.version > *to {
                    return Admit::Stale;
                }
                if same && self.version == *to && self.full.is_none() {
                    return Admit::Current;
                }
                if let Err(e) = check_step(self.version, *to) {
                    return Admit::Refused(e);
                }
                match &self.full {
                    _ if *seq == 0 => Admit::Proceed,
                    Some(f) if f.id == *id && f.next_seq == *seq => Admit::Proceed,
                    Some(f) if f.id == *id && f.next_seq > *seq => Admit::Current,
                    _ => Admit::Gap,
                }
            }
        }
    }

    /// Where the replica stands once `body` (admitted) is taken: a delta's
    /// last page moves the version to its `to`; a full state's page moves
    /// its progress, and its last page the version. `issued_at` is when the
    /// admin sent it.
    pub fn commit(&mut self, lineage: &str, body: &SyncBody, issued_at: i64) {
        self.error = None;
        match body {
            SyncBody::Probe => {}
            SyncBody::Delta { to, last, .. } => {
                if *last && *to > self.version {
                    self.version = *to;
                    self.issued_at = issued_at;
                }
            }
            SyncBody::Full { id, to, seq, last, .. } => {
                if *last {
                    // A delta taken meanwhile may have gone further: never back (within a lineage).
                    self.version = if lineage == self.lineage { self.version.max(*to) } else { *to };
                    lineage.clone_into(&mut self.lineage);
                    self.issued_at = issued_at;
                    self.full = None;
                } else {
                    self.full = Some(FullProgress { id: id.clone(), to: *to, next_seq: seq.saturating_add(1) });
                }
            }
        }
    }

    /// A probe from the admin of `lineage` at `version`: a replica in step
    /// with it has nothing wrong any more (an error from a message it could
    /// not take, forged or not, no longer stands once the admin vouches for
    /// exactly this state).
    pub fn probed(&mut self, lineage: &str, version: u64) {
        if lineage == self.lineage && version == self.version {
            self.error = None;
        }
    }

    /// Notes that the replica could not take a message, and why.
    pub fn fail(&mut self, why: impl Into<String>) {
        self.error = Some(why.into());
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::state::MAX_VERSION_JUMP;

    fn delta(from: u64, to: u64, last: bool) -> SyncBody {
        SyncBody::Delta { from, to, last, orgs: vec![] }
    }

    fn page(id: &str, to: u64, seq: u32, last: bool) -> SyncBody {
        SyncBody::Full { id: id.into(), to, seq, last, replace: false, orgs: vec![] }
    }

    #[test]
    fn deltas_go_forward_from_where_the_replica_is() {
        let mut m = ReplicaMeta { version: 5, lineage: "l".into(), ..ReplicaMeta::default() };
        assert_eq!(m.admit("l", &delta(5, 7, false)), Admit::Proceed);
        m.commit("l", &delta(5, 7, false), 1);
        assert_eq!(m.version, 5, "only the last page moves the version");
        assert_eq!(m.admit("l", &delta(5, 7, true)), Admit::Proceed);
        m.commit("l", &delta(5, 7, true), 2);
        assert_eq!((m.version, m.issued_at), (7, 2));
        assert_eq!(m.admit("l", &delta(5, 7, true)), Admit::Current, "repeated");
        assert_eq!(m.admit("l", &delta(3, 6, true)), Admit::Current, "old");
        assert_eq!(m.admit("l", &delta(9, 12, true)), Admit::Gap, "from elsewhere");
        assert_eq!(m.admit("l", &delta(6, 9, true)), Admit::Proceed, "overlapping: records are idempotent");
        assert!(matches!(m.admit("l", &delta(7, 8 + MAX_VERSION_JUMP, true)), Admit::Refused(StateError::Jump { .. })));
        assert!(matches!(m.admit("l", &delta(7, u64::MAX, true)), Admit::Refused(StateError::VersionRange)));
    }

    #[test]
    fn a_full_state_goes_in_page_by_page_and_moves_the_version_at_its_end() {
        let mut m = ReplicaMeta { version: 3, lineage: "l".into(), ..ReplicaMeta::default() };
        assert_eq!(m.admit("l", &page("a", 9, 1, false)), Admit::Gap, "not from its start");
        assert_eq!(m.admit("l", &page("a", 9, 0, false)), Admit::Proceed);
        m.commit("l", &page("a", 9, 0, false), 1);
        assert_eq!(m.full.as_ref().map(|f| f.next_seq), Some(1));
        assert_eq!(m.admit("l", &page("a", 9, 1, false)), Admit::Proceed);
        assert_eq!(m.admit("l", &page("a", 9, 0, false)), Admit::Proceed, "page 0 starts it over");
        assert_eq!(m.admit("l", &page("b", 9, 1, false)), Admit::Gap, "another full state's later page");
        assert_eq!(m.admit("l", &page("a", 9, 2, false)), Admit::Gap, "a page skipped");
        m.commit("l", &page("a", 9, 1, false), 1);
        assert_eq!(m.admit("l", &page("a", 9, 1, false)), Admit::Current, "a page taken twice");
        assert_eq!(m.admit("l", &delta(3, 9, true)), Admit::Proceed, "deltas still apply meanwhile");
        m.commit("l", &page("a", 9, 2, true), 5);
        assert_eq!((m.version, m.full.clone(), m.issued_at), (9, None, 5));
        assert_eq!(m.admit("l", &page("c", 8, 0, false)), Admit::Stale, "an older full state");
        assert_eq!(m.admit("l", &page("c", 9, 0, true)), Admit::Current);
    }

    #[test]
    fn another_lineage_takes_no_delta_only_a_full_state() {
        let mut m = ReplicaMeta { version: 9, lineage: "old".into(), ..ReplicaMeta::default() };
        assert_eq!(m.admit("new", &delta(9, 10, true)), Admit::Gap);
        // A full state of the new lineage is taken even at a lower version, and takes over.
        assert_eq!(m.admit("new", &page("x", 4, 0, true)), Admit::Proceed);
        m.commit("new", &page("x", 4, 0, true), 1);
        assert_eq!((m.version, m.lineage.as_str()), (4, "new"));
        assert_eq!(m.admit("new", &delta(4, 5, true)), Admit::Proceed);
    }

    #[test]
    fn vouching_and_failures() {
        let mut m = ReplicaMeta::default();
        m.vouch(10);
        m.vouch(5);
        assert_eq!(m.synced_at, 10, "never lowered");
        m.fail("storage full");
        assert_eq!(m.error.as_deref(), Some("storage full"));
        m.commit("l", &SyncBody::Probe, 0);
        assert_eq!(m.error, None, "cleared by the next message taken");
        m.fail("a refused jump");
        m.probed("other", m.version);
        m.probed("", m.version + 1);
        assert!(m.error.is_some(), "only the admin of this state, at this version, clears it");
        m.probed("", m.version);
        assert_eq!(m.error, None);
    }
}
