//! embedgate-admin: the `embedgate` command line (the host app's offline
//! `sign`/`verify`, key generation, `init`, `serve`), the admin server
//! ([`server`]: the HTTP API, the pages, the push to the edges) and its
//! store ([`store`]: every query, and the one write path).

pub mod cli;
pub mod server;
pub mod store;
