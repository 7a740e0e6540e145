//! The workers-rs glue: the fetch handler, the two Durable Objects, and the
//! in-isolate state cache. Everything it decides, it asks core.

mod cache;
mod config;
mod replay;
mod routes;
mod store;

/// The Durable Object binding of the state store (wrangler.toml).
pub const STATE_BINDING: &str = "EMBEDGATE_STATE";
/// The Durable Object binding of the replay guard (wrangler.toml).
pub const REPLAY_BINDING: &str = "EMBEDGATE_REPLAY";

/// Now, from the runtime's clock, in milliseconds.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Now, in Unix seconds.
pub fn now_s() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}
