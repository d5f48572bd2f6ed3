#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need (scripts/test-deps.sh), then every
# test of the workspace with cargo-nextest (or cargo test when nextest is not installed).
# Extra arguments go to the test runner, e.g. `scripts/test.sh -E 'test(db::)'`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
export PATH="${MINIBASE_TOOLS_DIR:-$HOME/.cache/minibase-tools}/bin:$PATH"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
