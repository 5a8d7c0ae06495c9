#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with a Rust toolchain:
# installs what the tests need, then format check, lints, every test, and the schema
# validation of the SARIF and JUnit outputs (validators from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in nftables iproute2 procps git python3 python3-venv chromium firefox-esr; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# Node.js for the browser tests: Debian's only where no node is installed (a machine's
# own newer Node.js and its npm stay).
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: not root, not installing ${need[*]}" >&2
  fi
fi
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

# Root-only tests (lab, kernel, agent) skip with a note when not root; here, as root in
# CI, a skip would hide them, so it fails instead.
if [ "$(id -u)" = 0 ]; then export PALISADE_ROOT_TESTS=require; fi

cargo fmt --all -- --check
# Licenses, banned crates and sources (deny.toml); cargo-deny from crates.io. Its
# `advisories` check needs the RustSec database from GitHub, which these machines cannot
# fetch: not run.
command -v cargo-deny >/dev/null || cargo install --locked -q cargo-deny
cargo deny --log-level error --locked check licenses bans sources
cargo clippy --workspace --all-targets --locked -- -D warnings
# Public items are documented (missing_docs in every library) and doc links resolve.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q
cargo test --workspace --locked

# Fuzzing (fuzz/, cargo-fuzz): each target for FUZZ_SECONDS (default 60), when a nightly
# toolchain or RUSTC_BOOTSTRAP=1 on stable can build it; a crash fails the suite.
./scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

# SARIF and JUnit outputs against their published schemas (validators from PyPI).
venv=target/validate-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check 'jsonschema>=4,<5' 'xmlschema>=3,<5' 'pyyaml>=6,<7'
cargo build --locked -q -p palisade-cli
"$venv/bin/python" scripts/validate-reports.py target/debug/palisade target/schema-cache

# The web UI's JSON API against its OpenAPI description (every path, every status).
"$venv/bin/python" scripts/validate-openapi.py target/debug/palisade examples/shop crates/palisade-cli/src/ui/openapi.yaml

# The web UI in real browsers: Debian's Chromium driven by playwright-core, and Debian's
# Firefox ESR driven by puppeteer-core over WebDriver BiDi (both from the npm registry,
# pinned by ui-tests/package-lock.json; no browser download), node's own test runner. As
# root the lab's live test runs an agent and Chromium in a lab node's namespace. The
# screenshots the tests take land in docs/screenshots/.
(cd ui-tests && npm ci --no-audit --no-fund --silent && PALISADE="$PWD/../target/debug/palisade" node --test)
