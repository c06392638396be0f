#!/usr/bin/env bash
# Load test over HTTP on loopback: a release `tessera serve` on a fresh SQLite data directory, driven by wrk
# (installed from Debian if missing) with keep-alive connections. Prints requests per second and latency
# percentiles for an authenticated request, a malformed token and a well-formed token that was never issued.
# Usage: scripts/load.sh [seconds] [connections]. The load generator shares the machine's cores with the server.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"
seconds="${1:-10}"
connections="${2:-64}"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --bin tessera
data_dir=$(mktemp -d)
out="$data_dir/serve.out"
"$CARGO_TARGET_DIR/release/tessera" serve --data-dir "$data_dir" --listen 127.0.0.1:0 --log warn >"$out" 2>"$data_dir/serve.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 1 100); do grep -q "serving the API" "$out" && break; sleep 0.1; done
token=$(grep -o '^glpat-.*' "$out")
url=$(grep -o 'http://[^ ]*/api/v4' "$out")
# A token with a valid checksum that was never issued.
unknown=$(python3 - <<'PY'
import base64, os, zlib
def b36(n, w):
    s = ""
    while True:
        s = "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36] + s
        n //= 36
        if n == 0:
            break
    return s.rjust(w, "0")
payload = b"c:1\no:1"
body = base64.urlsafe_b64encode(os.urandom(16) + payload + bytes([len(payload)])).decode().rstrip("=")
head = "glpat-" + body + ".01." + b36(len(body), 2)
print(head + b36(zlib.crc32(head.encode()), 7))
PY
)

run() {
  local label=$1 header=$2
  echo "== $label"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "$header" "$url/user" | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx"
}
curl -s -o /dev/null -H "PRIVATE-TOKEN: $token" -H 'Content-Type: application/json' -d '{"name":"Load","path":"load"}' "$url/projects"
base=${url%/api/v4}
echo "== forward-auth: allowed POST /api/v4/projects/root%2Fload/issues (decision through /-/auth)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "PRIVATE-TOKEN: $token" -s /dev/stdin "$base/-/auth/api/v4/projects/root%2Fload/issues" <<'LUA' | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx"
wrk.method = "POST"
LUA
run "authenticated GET /api/v4/user (token, owner and settings read from SQLite)" "PRIVATE-TOKEN: $token"
run "malformed token (refused by prefix and checksum, no storage access)" "PRIVATE-TOKEN: glpat-not-a-token"
run "well-formed unknown token (one lookup and an audit entry)" "PRIVATE-TOKEN: $unknown"
