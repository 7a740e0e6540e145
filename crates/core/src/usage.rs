//! Who loaded embeds (issue 15, "embed users"), as pure, bounded data.
//!
//! An isolate notes every successful embed load in a [`UsageBuffer`]: per
//! credential its last use (for `last_used_at`) and per identity (credential
//! and canonical `sub`) an [`EmbedUse`]: account type, teams, first and last
//! seen in the window and a count. The buffer is drained to the region head
//! at most every flush window; it holds at most [`MAX_USERS_PER_FLUSH`]
//! identities (later new ones are counted in `dropped`, not kept), at most
//! [`MAX_TEAMS`] teams each, each string at most [`MAX_FIELD_CHARS`].
//!
//! The region head keeps per identity the running totals ([`EmbedUse::merge`]),
//! so its `loads` only grow; the admin adds up the growth it sees per edge
//! and region, which makes a report read twice count once.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::sync::Usage;
use crate::types::AccountType;

/// At most this many identities per isolate per flush window.
pub const MAX_USERS_PER_FLUSH: usize = 1000;
/// At most this many teams kept per identity.
pub const MAX_TEAMS: usize = 20;
/// Longest team name kept, in characters (longer ones are cut).
pub const MAX_FIELD_CHARS: usize = 64;
/// Longest `sub` kept (the validation's bound).
pub const MAX_SUB_CHARS: usize = 254;
/// The bytes of identity rows one ack carries at most (over all regions),
/// well under [`crate::sync::MAX_SYNC_BYTES`] beside the credential rows.
pub const USERS_ACK_BYTES: usize = 256 * 1024;

/// One identity's use of one credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedUse {
    /// The credential.
    pub client_id: String,
    /// The embed user (canonical email).
    pub sub: String,
    /// The account type of its last load, if the token named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountType>,
    /// The teams of its last load (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// First load seen (Unix seconds, edge clock).
    pub first_seen: i64,
    /// Last load seen.
    pub last_seen: i64,
    /// Loads counted.
    pub loads: u64,
}

impl EmbedUse {
    /// A first sighting at `now`, its strings bounded.
    pub fn new(client_id: &str, sub: &str, account_type: Option<AccountType>, teams: &[String], now: i64) -> Self {
        Self {
            client_id: client_id.to_owned(),
            sub: cut(sub, MAX_SUB_CHARS),
            account_type,
            teams: bounded_teams(teams),
            first_seen: now,
            last_seen: now,
            loads: 0,
        }
    }

    /// Folds a later (or earlier) report of the same identity in: loads add
    /// up, first seen is the earliest, last seen the latest, and the account
    /// type and teams are those of the latest.
    pub fn merge(&mut self, other: &Self) {
        if other.last_seen >= self.last_seen {
            self.account_type = other.account_type;
            self.teams.clone_from(&other.teams);
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.loads = self.loads.saturating_add(other.loads);
    }

    /// Its bounds applied (a report from elsewhere is not trusted to keep them).
    #[must_use]
    pub fn bounded(mut self) -> Self {
        self.sub = cut(&self.sub, MAX_SUB_CHARS);
        self.teams = bounded_teams(&self.teams);
        self
    }
}

fn cut(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

fn bounded_teams(teams: &[String]) -> Vec<String> {
    teams.iter().take(MAX_TEAMS).map(|t| cut(t, MAX_FIELD_CHARS)).collect()
}

/// What an isolate flushes to its region head.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBatch {
    /// Per credential, its last use.
    #[serde(default)]
    pub usage: Vec<Usage>,
    /// Per identity, its use in the window.
    #[serde(default)]
    pub users: Vec<EmbedUse>,
    /// New identities not kept because the window was full.
    #[serde(default)]
    pub dropped: u64,
}

/// What a head accepts on `POST /usage`: the batch, or (isolates of an
/// older version) the credential rows alone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UsageReport {
    /// An older isolate's list.
    Credentials(Vec<Usage>),
    /// A batch.
    Batch(UsageBatch),
}

impl UsageReport {
    /// As a batch.
    pub fn into_batch(self) -> UsageBatch {
        match self {
            Self::Credentials(usage) => UsageBatch { usage, ..UsageBatch::default() },
            Self::Batch(b) => b,
        }
    }
}

/// An isolate's usage since its last flush, bounded.
#[derive(Debug, Default)]
pub struct UsageBuffer {
    credentials: HashMap<String, i64>,
    users: HashMap<(String, String), EmbedUse>,
    dropped: u64,
}

impl UsageBuffer {
    /// Notes a successful embed load of `client_id` by `sub` at `now`;
    /// `counted`: a load (a session check only moves last seen).
    pub fn note(
        &mut self,
        client_id: &str,
        sub: &str,
        account_type: Option<AccountType>,
        teams: &[String],
        now: i64,
        counted: bool,
    ) {
        let last = self.credentials.entry(client_id.to_owned()).or_insert(now);
        *last = (*last).max(now);
        let key = (client_id.to_owned(), sub.to_owned());
        let full = self.users.len() >= MAX_USERS_PER_FLUSH;
        match self.users.get_mut(&key) {
            Some(u) => {
                u.merge(&EmbedUse {
                    loads: u64::from(counted),
                    ..EmbedUse::new(client_id, sub, account_type, teams, now)
                });
            }
            None if full => self.dropped = self.dropped.saturating_add(1),
            None => {
                let u =
                    EmbedUse { loads: u64::from(counted), ..EmbedUse::new(client_id, sub, account_type, teams, now) };
                self.users.insert(key, u);
            }
        }
    }

    /// How many identities it holds.
    pub fn identities(&self) -> usize {
        self.users.len()
    }

    /// Everything noted since the last drain; the buffer is empty after.
    pub fn drain(&mut self) -> UsageBatch {
        UsageBatch {
            usage: self
                .credentials
                .drain()
                .map(|(client_id, last_used_at)| Usage { client_id, last_used_at })
                .collect(),
            users: self.users.drain().map(|(_, u)| u).collect(),
            dropped: std::mem::take(&mut self.dropped),
        }
    }
}

/// The leading rows (`(seq, row)`, in seq order) whose JSON fits in `budget`
/// bytes, and the seq of the last one taken (`None`: none taken). At least
/// one row is taken when there is any, so a cursor always moves.
pub fn fit<T: Serialize>(rows: Vec<(u64, T)>, budget: usize) -> (Vec<T>, Option<u64>) {
    let mut used = 0usize;
    let mut taken = Vec::new();
    let mut cursor = None;
    for (seq, row) in rows {
        let size = serde_json::to_vec(&row).map_or(usize::MAX, |v| v.len().saturating_add(1));
        if !taken.is_empty() && used.saturating_add(size) > budget {
            break;
        }
        used = used.saturating_add(size);
        taken.push(row);
        cursor = Some(seq);
    }
    (taken, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn teams(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("team-{i}")).collect()
    }

    #[test]
    fn loads_add_up_and_times_span_the_window() {
        let mut b = UsageBuffer::default();
        b.note("c1", "a@x.com", Some(AccountType::Viewer), &teams(1), 100, true);
        b.note("c1", "a@x.com", Some(AccountType::Creator), &teams(2), 160, true);
        b.note("c1", "a@x.com", Some(AccountType::Viewer), &[], 130, false);
        b.note("c1", "b@x.com", None, &[], 120, true);
        let batch = b.drain();
        assert_eq!(batch.usage, vec![Usage { client_id: "c1".into(), last_used_at: 160 }]);
        let a = batch.users.iter().find(|u| u.sub == "a@x.com").unwrap();
        assert_eq!((a.first_seen, a.last_seen, a.loads), (100, 160, 2));
        assert_eq!(a.account_type, Some(AccountType::Creator));
        assert_eq!(a.teams, teams(2));
        assert_eq!(batch.users.len(), 2);
        assert_eq!(b.drain(), UsageBatch::default());
    }

    #[test]
    fn the_window_is_bounded_and_counts_what_it_drops() {
        let mut b = UsageBuffer::default();
        for i in 0..MAX_USERS_PER_FLUSH + 5 {
            b.note("c1", &format!("u{i}@x.com"), None, &[], 1, true);
        }
        // A known identity is still counted when the window is full.
        b.note("c1", "u0@x.com", None, &[], 2, true);
        assert_eq!(b.identities(), MAX_USERS_PER_FLUSH);
        let batch = b.drain();
        assert_eq!(batch.dropped, 5);
        assert_eq!(batch.users.iter().find(|u| u.sub == "u0@x.com").unwrap().loads, 2);
        assert_eq!(b.drain().dropped, 0);
    }

    #[test]
    fn teams_and_strings_are_bounded() {
        let long = "é".repeat(500);
        let u = EmbedUse::new("c1", &long, None, &vec![long.clone(); 50], 1);
        assert_eq!(u.sub.chars().count(), MAX_SUB_CHARS);
        assert_eq!(u.teams.len(), MAX_TEAMS);
        assert!(u.teams.iter().all(|t| t.chars().count() == MAX_FIELD_CHARS));
        let wild = EmbedUse { teams: vec![long; 99], ..u }.bounded();
        assert_eq!(wild.teams.len(), MAX_TEAMS);
    }

    #[test]
    fn merge_keeps_the_latest_attributes_whatever_the_order() {
        let early = EmbedUse { loads: 3, ..EmbedUse::new("c", "a", Some(AccountType::Viewer), &teams(1), 10) };
        let late = EmbedUse { loads: 4, ..EmbedUse::new("c", "a", Some(AccountType::Admin), &teams(3), 20) };
        let mut x = late.clone();
        x.merge(&early);
        let mut y = early;
        y.merge(&late);
        assert_eq!(x, y);
        assert_eq!((x.first_seen, x.last_seen, x.loads, x.account_type), (10, 20, 7, Some(AccountType::Admin)));
    }

    #[test]
    fn old_isolates_reports_still_parse() {
        let old: UsageReport = serde_json::from_str(r#"[{"client_id":"c","last_used_at":5}]"#).unwrap();
        assert_eq!(old.into_batch().usage.len(), 1);
        let new: UsageReport = serde_json::from_str(r#"{"usage":[],"users":[],"dropped":2}"#).unwrap();
        assert_eq!(new.into_batch().dropped, 2);
    }

    #[test]
    fn fit_stays_within_the_budget_and_always_moves() {
        let rows: Vec<(u64, EmbedUse)> =
            (1..=100).map(|i| (i, EmbedUse::new("c", &format!("user{i:03}@x.com"), None, &teams(5), 1))).collect();
        let one = serde_json::to_vec(&rows[0].1).unwrap().len() + 1;
        let (taken, cursor) = fit(rows.clone(), one * 10);
        assert_eq!((taken.len(), cursor), (10, Some(10)));
        let (taken, cursor) = fit(rows, 1);
        assert_eq!((taken.len(), cursor), (1, Some(1)));
        let (taken, cursor) = fit(Vec::<(u64, EmbedUse)>::new(), 1);
        assert_eq!((taken.len(), cursor), (0, None));
    }
}
