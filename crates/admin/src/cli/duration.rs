//! Durations on the command line: `90`, `90s`, `15m`, `1h`, `7d` (the core's parser,
//! shared with the edge's variables).

pub use embedgate_core::parse_seconds;
