//! Embeds the browser pages (`www/`, with the WASM module `cargo xtask www`
//! builds into `www/pkg`) in the `embedgate` binary, so `embedgate serve`
//! serves the console from any directory. Writes `$OUT_DIR/www.rs`: a sorted
//! table of (path inside www/, bytes). Hidden files are left out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let www = manifest.join("../../www");
    // A directory: cargo rebuilds when anything under it changes (a rebuilt www/pkg included).
    println!("cargo:rerun-if-changed={}", www.display());
    let mut files = Vec::new();
    if www.is_dir() {
        collect(&www, "", &mut files);
    }
    files.sort();
    if !files.iter().any(|(name, _)| name == "pkg/embedgate_wasm_bg.wasm") {
        println!(
            "cargo:warning=www/pkg is not built (run `cargo xtask www`): the console's browser module is not embedded, \
             so its field checks run on the server only"
        );
    }
    let mut out =
        String::from("/// The pages, sorted by path inside `www/`.\npub static FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        let _ = writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display().to_string());
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("www.rs");
    std::fs::write(dest, out).expect("write www.rs");
}

fn collect(dir: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if path.is_dir() {
            collect(&path, &relative, files);
        } else if path.is_file() {
            files.push((relative, path.canonicalize().unwrap_or(path)));
        }
    }
}
