#!/usr/bin/env bash
# Soak (issue 21, point 9): a mixed load for MINUTES (default 10) against `tessera serve` on a fresh SQLite data
# directory (or PostgreSQL: SOAK_DATABASE_URL=postgres://…/db): decisions on every way in (REST, forward-auth in
# the Envoy and the nginx form, Git over forward-auth, the decision API), token creation, use and revocation, and
# membership changes, each checked on the very next request. It fails on any 5xx, any ERROR in the server's log,
# a revocation or membership change not seen by the next request, or resident memory that grows more than 10%
# after warm-up; the figures are printed at the end.
#
#   scripts/soak.sh [MINUTES] [WORKERS]      (a release build; SOAK_BUILD=debug uses the debug binary, as CI does)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"
minutes="${1:-10}"
workers="${2:-4}"
profile="${SOAK_BUILD:-release}"
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin tessera
else
  cargo build --quiet --bin tessera
fi
data_dir=$(mktemp -d)
out="$data_dir/serve.out"
log="$data_dir/serve.log"
# The fact cache is bounded (100,000 entries of each kind by default); the load creates about 200 tokens a second, so
# a smaller bound lets the caches fill during the warm-up, after which memory must stay flat.
args=(serve --data-dir "$data_dir" --listen 127.0.0.1:0 --cache-capacity "${SOAK_CACHE_CAPACITY:-20000}")
if [ -n "${SOAK_DATABASE_URL:-}" ]; then
  args+=(--database-url "$SOAK_DATABASE_URL")
fi
TESSERA_LOG=info "$CARGO_TARGET_DIR/$profile/tessera" "${args[@]}" >"$out" 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 1 300); do grep -q "serving the API" "$out" && break; sleep 0.1; done
grep -q "serving the API" "$out" || { echo "tessera did not start" >&2; cat "$log" >&2; exit 1; }
token=$(grep -o '^glpat-.*' "$out")
url=$(grep -o 'http://[^ ]*' "$out" | head -n 1 | sed 's#/api/v4$##')
python3 scripts/soak.py --url "$url" --token "$token" --pid "$server" --log "$log" --minutes "$minutes" --workers "$workers"
