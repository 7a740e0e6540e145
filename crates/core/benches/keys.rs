//! `cargo bench -p embedgate-core --bench keys` (or `cargo xtask bench`).
//!
//! What the key hierarchy costs per credential, to set against a full state
//! of 10⁶ credentials and an isolate's cache fill:
//! - `keys/admin_wrap_two`: the admin's work per credential in a push:
//!   derive both live secrets from the org key and wrap each under the edge key.
//! - `keys/edge_unwrap_two`: the edge's work when a credential enters an
//!   isolate's cache: open both wrapped secrets into a key ring.
//! - `keys/open_org_key`: the admin's org-key cache miss (unwrap under the master key).
//! - `keys/derive_only`: one v2 derivation (the floor of `admin_wrap_two`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use embedgate_core::{ClientId, EdgeKey, KeyRing, KeySet, MasterKey, OrgKey, OrgSlug, SecretGeneration};

fn bench_keys(c: &mut Criterion) {
    let org: OrgSlug = "acme-industries".parse().expect("org");
    let client_id: ClientId = "5f2b8c0e9a7d4e1f8b3c6a9d0e2f4b7a".parse().expect("client id");
    let org_key = OrgKey::generate().expect("org key");
    let edge = EdgeKey::generate().expect("edge key");
    let edges = KeySet::single(edge.clone());
    let master = MasterKey::generate().expect("master key");
    let masters = KeySet::single(master.clone());
    let wrapped_org_key = master.wrap_org_key(&org, 1, &org_key).expect("wrap");
    let wrap_two = || -> Vec<SecretGeneration> {
        [2u32, 1]
            .iter()
            .map(|&g| {
                let secret = org_key.derive_embed_secret(&org, &client_id, g);
                SecretGeneration::wrapped(g, edge.wrap_secret(&org, &client_id, g, &secret).expect("wrap"))
            })
            .collect()
    };
    let sent = wrap_two();

    let mut group = c.benchmark_group("keys");
    group.bench_function("admin_wrap_two", |b| b.iter(|| black_box(wrap_two())));
    group.bench_function("edge_unwrap_two", |b| {
        b.iter(|| {
            let (ring, failure) = KeyRing::unwrap(&edges, &org, &client_id, black_box(&sent));
            assert!(failure.is_none());
            black_box(ring)
        });
    });
    group.bench_function("open_org_key", |b| {
        b.iter(|| black_box(masters.unwrap_org_key(&org, 1, black_box(&wrapped_org_key)).expect("open")));
    });
    group.bench_function("derive_only", |b| {
        b.iter(|| black_box(org_key.derive_embed_secret(&org, &client_id, black_box(7))));
    });
    group.finish();
}

criterion_group!(benches, bench_keys);
criterion_main!(benches);
