#!/usr/bin/env bash
# Runs every benchmark and gathers their figures: the in-process decision (`cargo bench -p bench --bench
# authority`), Tessera beside Cedar, casbin and a hand-written floor (`--bench peers`), and the HTTP load test
# (scripts/load.sh). Writes target/bench/summary.json, target/bench/summary.md (the tables) and
# target/bench/latency.svg (the latency distribution of each way in); with UPDATE_DOCS=1 it also puts the tables
# and the plot into docs/performance.md and docs/performance-latency.svg.
# Usage: scripts/bench.sh [load seconds] [seeded tokens]. QUICK=1 runs shorter distributions (a smoke run).
# Where the machine has two cores or more, each benchmark runs on its own pinned core (the load test pins the
# server and wrk on one core each).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"
seconds="${1:-10}"
seeded="${2:-1000000}"
out=target/bench
mkdir -p "$out"
pin=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  pin=(taskset -c 1)
  export PIN=1
fi
if [ "${QUICK:-0}" = 1 ]; then
  export TESSERA_BENCH_QUICK=1
fi
# The cache miss is also measured on PostgreSQL (TESSERA_BENCH_POSTGRES, the local server by default), started
# here if it is installed and not running; without one, that figure is said to be skipped.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
raw="$out/raw.txt"
: >"$raw"

echo "== building the benchmarks"
cargo bench -p bench --no-run --quiet 2>&1 | grep -v "^ *Executable" || true
binary() { ls -t "$CARGO_TARGET_DIR"/release/deps/"$1"-* | grep -v '\.d$' | head -n 1; }

echo "== the in-process decision (authority)"
"${pin[@]}" env TESSERA_BENCH_SKIP="resident memory" "$(binary authority)" --bench --warm-up-time 1 \
  --measurement-time 2 | tee -a "$raw" | grep -v '^BENCH '
# What one more cached token costs, in a process of its own: the heap the benchmarks above leave behind (millions
# of decisions, thousands of jobs started) is no part of it.
echo "== resident memory per cached token (authority, a process of its own)"
"${pin[@]}" env TESSERA_BENCH_ONLY="resident memory" "$(binary authority)" --bench "resident memory" \
  | tee -a "$raw" | grep -v '^BENCH '
echo "== Tessera beside its peers (peers)"
"${pin[@]}" "$(binary peers)" | tee -a "$raw" | grep -v '^BENCH '
echo "== HTTP load (scripts/load.sh $seconds 64 $seeded)"
bash scripts/load.sh "$seconds" 64 "$seeded" | tee -a "$raw" | grep -v '^BENCH '

python3 scripts/bench_report.py "$raw" "$out"
if [ "${UPDATE_DOCS:-0}" = 1 ]; then
  python3 scripts/bench_report.py "$raw" "$out" --docs docs/performance.md docs/performance-latency.svg
fi
echo "== written: $out/summary.json, $out/summary.md, $out/latency.svg"
