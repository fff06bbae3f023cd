#!/usr/bin/env bash
# The whole test suite: installs the test tools (Chromium, puppeteer-core), then runs every test.
# On PostgreSQL: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-tools.sh
exec cargo test --workspace "$@"
