#!/usr/bin/env bash
# Installs what the headless-browser test (tests/tests/browser.rs) needs:
# Debian's chromium at /usr/bin/chromium and the pinned playwright-core
# in tests/browser/node_modules. Playwright downloads no browser of its
# own here: the test drives the distribution's one. Safe to run again:
# it installs only what is missing. Needs node and npm (Node 20 or newer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi

if [ ! -d node_modules/playwright-core ]; then
    npm ci --no-audit --no-fund
fi
