//! `cargo xtask www`: builds the browser module (`crates/wasm`) into
//! `www/pkg` (git-ignored) for the pages the admin serves: wasm32 with
//! `+simd128` (from `.cargo/config.toml`), the size-optimised
//! `release-www` profile, wasm-bindgen `--target web`, then `wasm-opt -Oz`.

use crate::setup::npm_bin;
use crate::util::{self, cargo, repo_root, Result};

/// The features the module uses: wasm-opt must keep to them (Rust's wasm32
/// defaults plus simd128), so the output runs wherever the input did.
const FEATURES: [&str; 7] = [
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Builds `www/pkg/embedgate_wasm.js` and its `_bg.wasm`; returns the wasm size in bytes.
pub fn build() -> Result<u64> {
    util::run(&mut cargo([
        "build",
        "-p",
        "embedgate-wasm",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "release-www",
        "--locked",
    ]))?;
    let input = util::target_dir().join("wasm32-unknown-unknown/release-www/embedgate_wasm.wasm");
    let out = repo_root().join("www/pkg");
    util::run(std::process::Command::new("wasm-bindgen").args(["--target", "web", "--out-dir"]).arg(&out).arg(&input))?;
    let wasm = out.join("embedgate_wasm_bg.wasm");
    let mut opt = std::process::Command::new(npm_bin("wasm-opt"));
    opt.arg("-Oz").args(FEATURES).arg(&wasm).arg("-o").arg(&wasm);
    util::run(&mut opt)?;
    let size = std::fs::metadata(&wasm)?.len();
    println!("www/pkg: embedgate_wasm_bg.wasm {size} bytes");
    Ok(size)
}
