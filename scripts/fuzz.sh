#!/usr/bin/env bash
# Fuzzes the parsers every request and every token goes through (issue 21, point 7) with libFuzzer, on the stable
# toolchain: the targets in fuzz/ are built with LLVM's coverage instrumentation (the flags cargo-fuzz passes,
# without a sanitizer, so no nightly is needed) and each runs for SECONDS (default 60) from its checked-in corpus
# under fuzz/corpus/<target>. New inputs that find new coverage are kept in a scratch corpus, never in the tree;
# a crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(token path jwt grants route_rules ci_permissions)
fi
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/tessera-fuzz-target}"
# Instrumentation for the targets only (an explicit --target keeps build scripts and proc macros plain).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --quiet --release --manifest-path fuzz/Cargo.toml --target "$host" --bins
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$target" "$scratch/$target"
  echo "== fuzzing $target for ${seconds}s"
  # -rss_limit_mb and -malloc_limit_mb make an allocation out of proportion to the input a failure too.
  if ! "$CARGO_TARGET_DIR/$host/release/$target" "$scratch/$target" "fuzz/corpus/$target" \
      -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=512 -malloc_limit_mb=64 -timeout=10 \
      -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 2>"$scratch/$target.log"; then
    status=1
    echo "FAIL: $target found a crash; its input is in fuzz/artifacts/$target/" >&2
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "$scratch/$target.log" | tail -3 || true
done
exit $status
