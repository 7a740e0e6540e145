//! # embedgate-edge
//!
//! The edge worker (architecture.md §5): a Cloudflare Workers worker written with
//! workers-rs, built to WASM with `worker-build`, and run locally on workerd
//! through `wrangler dev`. It is a thin adapter: it parses the request, asks
//! [`embedgate_core`] for the verdict, and maps the result to HTTP.
//!
//! - `GET /{org}/{workbook|page|element}/{id…}?:jwt=…`: verify (architecture.md §3,
//!   §4, in order), refuse a replayed `jti` (a Durable Object per shard of
//!   jti hashes), then serve the embed: forward to `ORIGIN_URL` with identity
//!   headers, or the built-in demo workbook; `Accept: application/json` gets
//!   the identity as JSON. The first load sets a short-lived session cookie;
//!   later loads without `:jwt` continue on it until it ends or the
//!   credential is revoked.
//! - `POST /.well-known/embedgate/sync`: the admin's signed pushes and probes
//!   (architecture.md §6, [`embedgate_core::sync`]); state is kept in a Durable Object
//!   (strongly consistent, survives restarts) with an in-isolate cache whose
//!   staleness is bounded by `STATE_MAX_STALENESS_MS`.
//! - `GET /healthz`: the applied version and its age.
//!
//! Only [`render`] compiles natively (for its tests); the worker itself is
//! `wasm32` only.

pub mod render;

#[cfg(target_arch = "wasm32")]
mod glue;
