#!/usr/bin/env bash
# Load test over HTTP on loopback: a release `tessera serve` on a fresh SQLite data directory holding
# [tokens] seeded tokens (default 1,000,000), driven by wrk (installed from Debian if missing) with keep-alive
# connections. Prints requests per second and latency percentiles for a trivial handler (the baseline, same
# server, same run) and forward-auth decisions (the two alternating in three pairs of slices of half [seconds],
# each figure the median slice), an authenticated REST call, a malformed token and a well-formed token that was
# never issued (over REST, and the latter through forward-auth too), the decision API's batches of 1,000
# requests, then forward-auth's throughput as a fraction of the baseline's (the median of the pairs' ratios).
# Usage: scripts/load.sh [seconds] [connections] [tokens]. The load generator shares the machine's cores, unless
# PIN=1: then the server runs on core 0 and wrk (one thread) on core 1, so that neither takes the other's time.
# Also measures a cold start: from launching the server on the seeded database to its first answered decision.
# Each figure is also printed on a `BENCH {json}` line, which scripts/bench.sh gathers.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"
seconds="${1:-10}"
connections="${2:-64}"
seeded="${3:-1000000}"
serve_on=()
load_on=()
threads=2
if [ "${PIN:-0}" = 1 ]; then
  serve_on=(taskset -c 0)
  load_on=(taskset -c 1)
  threads=1
fi

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --bin tessera
data_dir=$(mktemp -d)
out="$data_dir/serve.out"
server=
start() {
  "${serve_on[@]}" "$CARGO_TARGET_DIR/release/tessera" serve --data-dir "$data_dir" --listen 127.0.0.1:0 --log warn >"$out" 2>"$data_dir/serve.err" &
  server=$!
  for _ in $(seq 1 300); do grep -q "serving the API" "$out" && return; sleep 0.1; done
  echo "tessera did not start" >&2; cat "$data_dir/serve.err" >&2; exit 1
}
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
start
token=$(grep -o '^glpat-.*' "$out")
url=$(grep -o 'http://[^ ]*/api/v4' "$out")
curl -s -o /dev/null -H "PRIVATE-TOKEN: $token" -H 'Content-Type: application/json' -d '{"name":"Load","path":"load"}' "$url/projects"
kill "$server"; wait "$server" 2>/dev/null || true

echo "== seeding $seeded tokens"
python3 - "$data_dir/tessera.db" "$seeded" <<'PY'
import os, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
started = time.time()
conn = sqlite3.connect(db)
now = int(time.time() * 1000)
rows = ((1, f"seed{i}", os.urandom(32).hex(), "api", now, now, 1) for i in range(n))
conn.executemany(
    "insert into personal_access_token (user_id, name, token_digest, scopes, created_at, updated_at, organization_id)"
    " values (?, ?, ?, ?, ?, ?, ?)",
    rows,
)
conn.commit()
count = conn.execute("select count(*) from personal_access_token").fetchone()[0]
print(f"   {count} tokens stored in {time.time() - started:.1f}s")
PY
# Cold start: launch on the seeded database, then ask forward-auth until it answers the first decision.
: >"$out"
launched=$(date +%s%N)
"${serve_on[@]}" "$CARGO_TARGET_DIR/release/tessera" serve --data-dir "$data_dir" --listen 127.0.0.1:0 --log warn >"$out" 2>"$data_dir/serve.err" &
server=$!
first=
for _ in $(seq 1 20000); do
  url=$(grep -o 'http://[^ ]*/api/v4' "$out" || true)
  if [ -n "$url" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "PRIVATE-TOKEN: $token" "${url%/api/v4}/-/auth/api/v4/projects/root%2Fload/issues")" = 200 ]; then
    first=$(date +%s%N); break
  fi
  sleep 0.005
done
[ -n "$first" ] || { echo "tessera answered no decision after a cold start" >&2; cat "$data_dir/serve.err" >&2; exit 1; }
cold_ms=$(( (first - launched) / 1000000 ))
echo "== cold start with $seeded tokens: first decision answered ${cold_ms} ms after launch"
echo "BENCH {\"suite\": \"load\", \"name\": \"cold start to the first decision ($seeded tokens)\", \"value\": $cold_ms, \"unit\": \"ms\"}"
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
  "${load_on[@]}" wrk -t$threads -c"$connections" -d"${seconds}s" --latency -H "$header" "$url/user" | figures "$label"
}
base=${url%/api/v4}
# Prints wrk's throughput and percentiles, and the same as a BENCH line labelled $1.
figures() {
  tee "$data_dir/wrk.out" | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx" | tee "$data_dir/last"
  python3 - "$1" "$connections" "$data_dir/wrk.out" <<'PY'
import json, re, sys
label, connections, text = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read()
unit = {"us": 1e3, "ms": 1e6, "s": 1e9}
line = {"suite": "load", "name": label, "connections": connections}
for q, value, u in re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M):
    line[f"p{q}_ns"] = float(value) * unit[u]
rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
line["rps"] = float(rps.group(1)) if rps else None
print("BENCH " + json.dumps(line))
PY
}
rps() { awk '/Requests\/sec/ {print $2}' "$data_dir/last"; }
# The baseline and forward-auth alternate in short slices, and each figure is the median slice: on a machine
# whose speed drifts (a shared VM's), two long runs one after the other compare two moments as much as two
# handlers; pairs of slices taken side by side, and the median of their ratios, compare the handlers.
pairs=3
slice=$(( seconds >= 6 ? seconds / 2 : 3 ))
printf 'wrk.method = "POST"\n' >"$data_dir/post.lua"
echo "== baseline (a trivial handler on the same server, GET /-/health) and forward-auth (allowed POST"
echo "   /api/v4/projects/root%2Fload/issues through /-/auth, facts cached), alternating: $pairs pairs of ${slice}s"
for i in $(seq 1 "$pairs"); do
  "${load_on[@]}" wrk -t$threads -c"$connections" -d"${slice}s" --latency "$base/-/health" >"$data_dir/health.$i"
  "${load_on[@]}" wrk -t$threads -c"$connections" -d"${slice}s" --latency -H "PRIVATE-TOKEN: $token" \
    -s "$data_dir/post.lua" "$base/-/auth/api/v4/projects/root%2Fload/issues" >"$data_dir/gate.$i"
done
python3 - "$connections" "$data_dir" "$pairs" >"$data_dir/pairs.out" <<'PY'
import json, re, statistics, sys
connections, data_dir, pairs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
unit = {"us": 1e3, "ms": 1e6, "s": 1e9}
def read(path):
    text = open(path).read()
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if not rps or "Non-2xx" in text:
        sys.exit(f"wrk's slice {path} has no throughput or has refusals:\n{text}")
    shown = [l for l in text.splitlines() if re.match(r"^\s+(50|90|99)%", l) or "Requests/sec" in l]
    quantiles = {f"p{q}_ns": float(v) * unit[u] for q, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M)}
    return float(rps.group(1)), shown, quantiles
health = [read(f"{data_dir}/health.{i}") for i in range(1, pairs + 1)]
gate = [read(f"{data_dir}/gate.{i}") for i in range(1, pairs + 1)]
for label, slices in [("trivial handler (GET /-/health)", health), ("forward-auth (POST issues through /-/auth)", gate)]:
    median = sorted(slices, key=lambda s: s[0])[len(slices) // 2]
    print(f"== {label}: the median of {pairs} slices ({', '.join(f'{s[0]:.0f}' for s in slices)} requests/s)")
    print("\n".join(median[1]))
    print("BENCH " + json.dumps({"suite": "load", "name": label, "connections": connections, **median[2], "rps": median[0]}))
ratios = [g[0] / h[0] for h, g in zip(health, gate)]
ratio = statistics.median(ratios)
with open(f"{data_dir}/ratio", "w") as out:
    out.write(f"== forward-auth / trivial handler: {ratio:.2f}x, the median of {pairs} side-by-side pairs ({', '.join(f'{r:.2f}' for r in ratios)})\n")
    out.write("BENCH " + json.dumps({"suite": "load", "name": "forward-auth / trivial handler", "value": ratio, "unit": "x"}) + "\n")
PY
cat "$data_dir/pairs.out"
run "authenticated GET /api/v4/user (facts cached)" "PRIVATE-TOKEN: $token"
run "malformed token (refused by prefix and checksum, no storage access)" "PRIVATE-TOKEN: glpat-not-a-token"
run "well-formed unknown token (one lookup, then remembered as unknown)" "PRIVATE-TOKEN: $unknown"
# A gateway's flood of one unknown token: past the second's few audited attempts, refused at once.
echo "== forward-auth: well-formed unknown token (a flood: refused at once once the audit budget is spent)"
"${load_on[@]}" wrk -t$threads -c"$connections" -d"${seconds}s" --latency -H "PRIVATE-TOKEN: $unknown" \
  -s "$data_dir/post.lua" "$base/-/auth/api/v4/projects/root%2Fload/issues" | figures "forward-auth: well-formed unknown token"
echo "== decision API: batches of 1,000 requests (POST /api/v4/internal/authorize, 2 connections)"
python3 - "$token" "$data_dir/batch.json" <<'PY'
import json, sys
token, out = sys.argv[1], sys.argv[2]
asked = {"credential": token, "method": "POST", "path": "/api/v4/projects/root%2Fload/issues"}
json.dump({"requests": [asked] * 1000}, open(out, "w"))
PY
cat >"$data_dir/batch.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$data_dir/batch.json", "r")
wrk.body = f:read("*a")
f:close()
LUA
"${load_on[@]}" wrk -t1 -c2 -d"${seconds}s" --latency -H "PRIVATE-TOKEN: $token" -s "$data_dir/batch.lua" "$url/internal/authorize" >"$data_dir/wrk.out"
grep -E "Requests/sec|^ +(50|99)%|Non-2xx" "$data_dir/wrk.out"
python3 - "$data_dir/wrk.out" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
if "Non-2xx" in text:
    sys.exit("the decision API refused the batch")
print(f"   {rps * 1000:,.0f} decisions/s")
print("BENCH " + json.dumps({"suite": "load", "name": "decision API, batches of 1,000", "value": rps * 1000, "unit": "decisions/s"}))
PY
cat "$data_dir/ratio"
