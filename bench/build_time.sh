#!/usr/bin/env bash
# Release build time and binary size of a small user crate that expands the 1.0-224 spec,
# measured the way a user meets them: the dependencies are built once, then the crate itself
# is rebuilt after a change to its source (`touch`). Writes bench/results/build.md.
#
#   bench/build_time.sh [SPEC]   (default specs/v1_alpha1_224.yaml; honours CARGO_TARGET_DIR)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
spec="${1:-specs/v1_alpha1_224.yaml}"
crate="$(mktemp -d)"
trap 'rm -rf "$crate"' EXIT
target="${CARGO_TARGET_DIR:-$crate/target}"

mkdir -p "$crate/src" "$crate/specs"
cp "$repo/$spec" "$crate/specs/model.yaml"
# A spec that `extends` another needs its base beside it.
cp "$repo"/specs/*.yaml "$crate/specs/"
cat > "$crate/Cargo.toml" <<TOML
[package]
name = "user-crate"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
mobilenet = { path = "$repo" }
TOML
cat > "$crate/src/main.rs" <<'RS'
mobilenet::mobilenet!("specs/model.yaml");

fn main() {
    let mut model = Model::new(Weights::random(0));
    let image = [0.5f32; INPUT_LEN];
    println!("{:?}", &model.forward(&image)[..3]);
}
RS

echo "building the dependencies..." >&2
CARGO_TARGET_DIR="$target" cargo build --quiet --release --manifest-path "$crate/Cargo.toml"
# Once per machine (and per mobilenet version): the runtime, where the kernels are compiled.
CARGO_TARGET_DIR="$target" cargo clean --quiet --release -p mobilenet-runtime --manifest-path "$crate/Cargo.toml"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$target" cargo build --quiet --release --manifest-path "$crate/Cargo.toml"
end=$(date +%s.%N)
first=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
touch "$crate/src/main.rs"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$target" cargo build --quiet --release --manifest-path "$crate/Cargo.toml"
end=$(date +%s.%N)
bin="$target/release/user-crate"
"$bin" >/dev/null
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
bytes=$(stat -c %s "$bin")
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
rustc_version=$(rustc --version)

mkdir -p "$here/results"
cat > "$here/results/build.md" <<MD
A crate whose \`main.rs\` expands \`$spec\` with \`mobilenet!\` and runs one forward pass,
default \`cargo build --release\` profile, rebuilt after its dependencies were built:
**$seconds s**; the binary is **$mib MiB** ($bytes bytes, not stripped). Building
\`mobilenet-runtime\` (where the kernels are compiled, once) and then the crate, from crates.io
dependencies already built, took $first s.
$(date -u +%F) · $cpu ($(nproc) logical cores) · $rustc_version · \`bench/build_time.sh\`
MD
cat "$here/results/build.md"
