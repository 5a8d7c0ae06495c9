#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), seeded from the
# bundled examples and deploy/. Installs cargo-fuzz when missing. Uses a nightly toolchain
# when one is installed, else the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes
# unstable flags). Says clearly when it cannot run, and exits non-zero on a crash; the
# crashing input is left in fuzz/artifacts/TARGET/ (make it a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  if ! cargo install --locked cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: cargo-fuzz could not be installed"
    exit 0
  fi
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
  how="nightly toolchain"
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
  how="stable toolchain with RUSTC_BOOTSTRAP=1"
fi
# No sanitizer (the code forbids unsafe; coverage guidance stays), 16 codegen units
# (cargo-fuzz's default of one makes the Kubernetes types take a quarter of an hour).
flags=(-s none -O --codegen-units 16)
if ! "${fuzz[@]}" build "${flags[@]}" >/tmp/palisade-fuzz-build.log 2>&1; then
  echo "fuzz: SKIPPED: the targets do not build with the $how:"
  tail -20 /tmp/palisade-fuzz-build.log
  exit 0
fi
for target in $("${fuzz[@]}" list); do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ "$target" = load_bytes ] && seeds=(examples deploy)
  [ "$target" = yaml_block_reader ] && seeds=(fuzz/seeds/yaml_block examples deploy)
  echo "fuzz: $target for ${secs}s ($how)"
  "${fuzz[@]}" run "${flags[@]}" "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -max_len=65536 -print_final_stats=1 \
    >"/tmp/palisade-fuzz-$target.log" 2>&1 || {
      echo "fuzz: $target FAILED:"
      tail -40 "/tmp/palisade-fuzz-$target.log"
      exit 1
    }
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "/tmp/palisade-fuzz-$target.log" | sed "s/^/fuzz: $target /"
done
