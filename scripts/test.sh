#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with a Rust toolchain:
# installs what the tests need, then format check, lints, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in nftables iproute2 procps; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: not root, not installing ${need[*]}" >&2
  fi
fi
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
