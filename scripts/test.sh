#!/usr/bin/env bash
# The whole test suite: installs the test tools (Chromium, puppeteer-core), then runs every test.
# On PostgreSQL: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-tools.sh
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "==> test engine: PostgreSQL (${TEST_DATABASE_URL%%@*}@…)"
else
  echo "==> test engine: SQLite (temporary files; set TEST_DATABASE_URL for PostgreSQL)"
fi
if [ -n "${PB_TEST_CLOCK_OFFSET_DAYS:-}" ]; then
  echo "==> test clocks start ${PB_TEST_CLOCK_OFFSET_DAYS} days from today"
fi
exec cargo test --workspace "$@"
