//! embedgate-admin: the `embedgate` command line (the host app's offline
//! `sign`/`verify`, key generation) and, in later issues, the admin server.

pub mod cli;
pub mod server;
