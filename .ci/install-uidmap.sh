#!/usr/bin/env bash
# Installs Debian's uidmap (newuidmap, newgidmap) for the sandbox suite's
# non-root mode (sandbox/nonroot_linux_test.go, TestNonRoot): run as root,
# it makes a user with subordinate ids and a delegated cgroup and runs the
# sandbox tests again as that user, whose sandboxes map their ids with
# these setuid helpers. Idempotent: a second run does nothing.
set -euo pipefail

if command -v newuidmap >/dev/null && command -v newgidmap >/dev/null && command -v useradd >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-uidmap: no newuidmap/newgidmap and no apt-get to install them" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends uidmap passwd >/dev/null
command -v newuidmap newgidmap
