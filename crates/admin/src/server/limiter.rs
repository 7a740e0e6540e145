//! The failed-authentication limiter: exponential back-off per client
//! address, in bounded memory.
//!
//! An address gets [`LimiterConfig::free`] failed authentications; the
//! `free`-th and every later one puts it in back-off for `base · 2^(n − free)`
//! (capped at [`LimiterConfig::cap`]), and a failure during back-off counts
//! too, so hammering keeps the address at the cap. An address quiet for
//! [`LimiterConfig::forget`] starts again from zero. The limiter never
//! refuses a valid token: the authenticating extractor checks the token
//! first and asks the limiter only about requests that failed (see
//! `server::auth`). IPv6 addresses are counted per /64 (one host usually
//! holds a whole /64, so per-address counting would let it rotate freely);
//! IPv4-mapped IPv6 addresses count as their IPv4 address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limiter's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Failures an address may make before back-off starts (at least 1).
    pub free: u32,
    /// The first back-off (it doubles with each further failure).
    pub base: Duration,
    /// The longest back-off.
    pub cap: Duration,
    /// An address without a failure for this long starts again from zero.
    pub forget: Duration,
    /// The most addresses remembered (the oldest are dropped past it).
    pub max_addresses: usize,
}

impl LimiterConfig {
    /// The defaults with `free` failures before back-off.
    pub fn with_free(free: u32) -> Self {
        Self { free: free.max(1), ..Self::default() }
    }
}

impl Default for LimiterConfig {
    /// 20 free failures, then 1 s doubling to at most 5 min; forgotten after
    /// 15 quiet minutes; at most 100,000 addresses.
    fn default() -> Self {
        Self {
            free: 20,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            forget: Duration::from_secs(900),
            max_addresses: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    until: Option<Instant>,
}

/// Counts failed authentications per client address (see the module).
#[derive(Debug)]
pub struct FailureLimiter {
    config: LimiterConfig,
    seen: Mutex<HashMap<IpAddr, Entry>>,
}

/// The address an address is counted under: IPv6 by /64, IPv4-mapped as IPv4.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

impl FailureLimiter {
    /// A limiter with these numbers.
    pub fn new(config: LimiterConfig) -> Self {
        Self { config: LimiterConfig { free: config.free.max(1), ..config }, seen: Mutex::new(HashMap::new()) }
    }

    /// Its numbers.
    pub fn config(&self) -> LimiterConfig {
        self.config
    }

    fn with_map<R>(&self, f: impl FnOnce(&mut HashMap<IpAddr, Entry>) -> R) -> R {
        let mut map = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut map)
    }

    /// How long `ip` is still in back-off (`None`: it is not).
    pub fn backoff(&self, ip: IpAddr) -> Option<Duration> {
        self.backoff_at(ip, Instant::now())
    }

    fn backoff_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.with_map(|m| m.get(&bucket(ip)).and_then(|e| e.until).and_then(|until| until.checked_duration_since(now)))
            .filter(|d| !d.is_zero())
    }

    /// Records one failure of `ip`; returns the back-off it is in now, if any.
    pub fn record_failure(&self, ip: IpAddr) -> Option<Duration> {
        self.record_failure_at(ip, Instant::now())
    }

    fn record_failure_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let key = bucket(ip);
        let c = self.config;
        self.with_map(|m| {
            if !m.contains_key(&key) && m.len() >= c.max_addresses {
                Self::evict(m, now, c);
            }
            let entry = m.entry(key).or_insert(Entry { failures: 0, last: now, until: None });
            if now.saturating_duration_since(entry.last) >= c.forget {
                *entry = Entry { failures: 0, last: now, until: None };
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last = now;
            if entry.failures < c.free {
                return None;
            }
            let doublings = (entry.failures - c.free).min(31);
            let delay = c.base.saturating_mul(1u32 << doublings).min(c.cap);
            if entry.failures == c.free {
                tracing::warn!(address = %key, failures = entry.failures, "failed authentications: back-off starts");
            }
            entry.until = Some(now + delay);
            Some(delay)
        })
    }

    /// Makes room: drops the forgotten addresses, then (if still full) the
    /// older half by last failure. Amortised: at most once per
    /// `max_addresses / 2` new addresses.
    fn evict(m: &mut HashMap<IpAddr, Entry>, now: Instant, c: LimiterConfig) {
        m.retain(|_, e| now.saturating_duration_since(e.last) < c.forget);
        if m.len() < c.max_addresses {
            return;
        }
        let mut lasts: Vec<Instant> = m.values().map(|e| e.last).collect();
        let mid = lasts.len() / 2;
        let (_, median, _) = lasts.select_nth_unstable(mid);
        let median = *median;
        m.retain(|_, e| e.last > median);
    }

    /// How many addresses it remembers.
    pub fn len(&self) -> usize {
        self.with_map(|m| m.len())
    }

    /// Whether it remembers no address.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(free: u32, max: usize) -> FailureLimiter {
        FailureLimiter::new(LimiterConfig { free, max_addresses: max, ..LimiterConfig::default() })
    }

    #[test]
    fn free_failures_then_doubling_back_off_up_to_the_cap() {
        let l = limiter(3, 100);
        let t = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(l.record_failure_at(a, t), None);
        assert_eq!(l.record_failure_at(a, t), None);
        assert_eq!(l.backoff_at(a, t), None);
        assert_eq!(l.record_failure_at(a, t), Some(Duration::from_secs(1)));
        assert_eq!(l.backoff_at(a, t), Some(Duration::from_secs(1)));
        assert_eq!(l.backoff_at(a, t + Duration::from_secs(1)), None, "over after its delay");
        assert_eq!(l.record_failure_at(a, t), Some(Duration::from_secs(2)));
        assert_eq!(l.record_failure_at(a, t), Some(Duration::from_secs(4)));
        for _ in 0..40 {
            l.record_failure_at(a, t);
        }
        assert_eq!(l.backoff_at(a, t), Some(Duration::from_secs(300)), "capped, no overflow");
        assert_eq!(l.backoff_at(ip("192.0.2.2"), t), None, "per address");
        // Quiet for the forget period: counting starts again.
        let later = t + Duration::from_secs(900);
        assert_eq!(l.record_failure_at(a, later), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("2001:db8:1:2:ffff::9")), bucket(ip("2001:db8:1:2::1")));
        assert_ne!(bucket(ip("2001:db8:1:3::1")), bucket(ip("2001:db8:1:2::1")));
        assert_eq!(bucket(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let l = limiter(1, 100);
        let t = Instant::now();
        l.record_failure_at(ip("2001:db8::1"), t);
        assert!(l.backoff_at(ip("2001:db8::ffff"), t).is_some(), "a host cannot rotate inside its /64");
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_go_first() {
        let l = limiter(5, 1000);
        let t = Instant::now();
        for i in 0..10_000u32 {
            let a = IpAddr::from(i.to_be_bytes());
            l.record_failure_at(a, t + Duration::from_millis(u64::from(i)));
        }
        assert!(l.len() <= 1000, "{}", l.len());
        // The newest address is remembered; the first ones were dropped.
        let newest = IpAddr::from(9_999u32.to_be_bytes());
        let now = t + Duration::from_secs(10);
        for _ in 0..4 {
            l.record_failure_at(newest, now);
        }
        assert!(l.backoff_at(newest, now).is_some(), "its earlier failure was kept");
        let first = IpAddr::from(0u32.to_be_bytes());
        for _ in 0..4 {
            l.record_failure_at(first, now);
        }
        assert!(l.backoff_at(first, now).is_none(), "its earlier failure was dropped");
    }
}
