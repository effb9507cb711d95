#!/usr/bin/env bash
# Checks the Prometheus alert rules (deploy/prometheus/bulwark-alerts.yml)
# with `promtool check rules` (syntax, PromQL, templates) and runs their
# unit tests (bulwark-alerts.test.yml: which alerts fire on which series). Debian's prometheus
# package ships promtool; it is installed here when missing and apt-get
# can (as root). Without promtool it says so and skips: the Go test
# metrics/alerts_test.go checks the metric names either way.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "promtool: installing Debian's prometheus package for it"
    (apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends prometheus) >/dev/null 2>&1 || true
  fi
fi
if ! command -v promtool >/dev/null; then
  echo "promtool: skipped: promtool is not installed and could not be (apt-get install prometheus provides it)"
  exit 0
fi
promtool --version 2>&1 | head -1
promtool check rules deploy/prometheus/bulwark-alerts.yml
promtool test rules deploy/prometheus/bulwark-alerts.test.yml
