#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust: Debian's Chromium and the puppeteer-core npm
# package (no browser download) that drives it in the browser test. Fails loudly: a test that
# needs a tool must never skip silently.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
command -v chromium >/dev/null || { echo "chromium is still missing" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required for the browser test" >&2; exit 1; }

if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  echo "installing puppeteer-core"
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi
test -d tests/browser/node_modules/puppeteer-core || { echo "puppeteer-core did not install" >&2; exit 1; }
