#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust: Debian's Chromium, and the npm packages of
# tests/node: puppeteer-core (no browser download) that drives it in the browser test, graphql
# (graphql-js) that checks the schema as standard tooling sees it. Fails loudly: a test that
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

# pg_dump: the test that no token is readable from a database dump reads PostgreSQL's dump.
if ! command -v pg_dump >/dev/null 2>&1; then
  echo "installing Debian's postgresql-client (pg_dump)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-client >/dev/null
fi
command -v pg_dump >/dev/null || { echo "pg_dump is still missing" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required for the browser and graphql-js tests" >&2; exit 1; }

# The npm packages of tests/node (package-lock.json pins them): installed when one is missing.
packages=(puppeteer-core graphql graphql-ws ws)
missing() { for p in "${packages[@]}"; do [ -d "tests/node/node_modules/$p" ] || return 0; done; return 1; }
if missing; then
  echo "installing ${packages[*]}"
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
fi
if missing; then echo "tests/node packages did not install" >&2; exit 1; fi

# The Python checkers of tests/python (requirements.txt pins them), in a venv of their own.
venv=tests/python/.venv
if ! "$venv/bin/python" -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "installing tests/python/requirements.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
"$venv/bin/python" -c "import standardwebhooks" || { echo "tests/python packages did not install" >&2; exit 1; }
