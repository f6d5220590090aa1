//! Puts memory.x where cortex-m-rt's link.x finds it and links with link.x. The link argument is
//! given here rather than in .cargo/config.toml's rustflags so that a RUSTFLAGS in the
//! environment (which replaces configured rustflags) cannot drop it.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg=-Tlink.x");
}
