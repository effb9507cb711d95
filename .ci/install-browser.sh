#!/usr/bin/env bash
# Installs Debian's chromium (/usr/bin/chromium) for the browser end-to-end
# tests (web/e2e_test.go, BULWARK_TEST_BROWSER=1), unless it is already
# there. Idempotent: a second run does nothing. The tests drive it over the
# DevTools protocol (chromedp), so no chromedriver and no downloaded browser.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-browser: no /usr/bin/chromium and no apt-get to install it" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
