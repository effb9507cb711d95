#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL runs on 127.0.0.1:5432, for the
# PostgreSQL store's tests (BULWARK_TEST_POSTGRES): starts its cluster if
# it is stopped, and installs Debian's postgresql first if it is missing.
# Idempotent: with PostgreSQL running it does nothing. .ci/run then makes a
# scratch database of its own on it.
set -euo pipefail

sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
if pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  if ! command -v apt-get >/dev/null; then
    echo "start-postgres: PostgreSQL is not installed and there is no apt-get to install it" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  installed=1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ -n "${installed:-}" ]; then
  # A new cluster asks for a password on TCP; the tests connect as
  # postgres on loopback without one, as on the CI machine.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  $sudo sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
fi
if ! pg_isready -h 127.0.0.1 -q; then
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
for _ in $(seq 30); do
  if pg_isready -h 127.0.0.1 -q; then
    exit 0
  fi
  sleep 1
done
echo "start-postgres: PostgreSQL $version did not become ready on 127.0.0.1:5432" >&2
exit 1
