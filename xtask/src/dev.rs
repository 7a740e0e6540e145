//! `cargo xtask dev`: setup, a release build of the admin binary, and how to
//! try it. Later issues grow this into the full local stack.

use crate::setup;
use crate::util::{self, cargo, Result};

pub fn run() -> Result<()> {
    setup::run()?;
    util::run(&mut cargo(["build", "--release", "-p", "embedgate-admin"]))?;

    let binary = util::target_dir().join("release/embedgate");
    if !binary.is_file() {
        return Err(format!("the build did not produce {}", binary.display()).into());
    }
    let bin = util::display_path(&binary);
    let root = util::repo_root();
    println!();
    println!("Built {bin}  (in {})", root.display());
    println!();
    println!("Try it, from {}:", root.display());
    println!("  export EMBED_SECRET=$({bin} keygen secret)");
    println!("  CLIENT_ID=$({bin} keygen client-id)");
    println!(
        "  TOKEN=$({bin} sign --client-id \"$CLIENT_ID\" --secret-env EMBED_SECRET \
         --sub ana@example.com --ttl 1h)"
    );
    println!("  {bin} verify --client-id \"$CLIENT_ID\" --secret-env EMBED_SECRET \"$TOKEN\"");
    println!();
    println!(
        "Later issues grow `cargo xtask dev` into the full local stack: \
         admin on http://127.0.0.1:8080, edge (workerd) on http://127.0.0.1:8787."
    );
    Ok(())
}
