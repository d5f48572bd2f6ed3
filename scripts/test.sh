#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need (scripts/test-deps.sh), then every
# test of the workspace with cargo-nextest (or cargo test when nextest is not installed), then
# the JS client SDK's tests (`npm test` in sdk/js) against the `minibase` and `minibase-fakes`
# binaries. Extra arguments go to the Rust test runner, e.g. `scripts/test.sh -E 'test(db::)'`.
# Either part failing fails the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
export PATH="${MINIBASE_TOOLS_DIR:-$HOME/.cache/minibase-tools}/bin:$PATH"
rust=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || rust=$?
else
  cargo test --workspace --no-fail-fast "$@" || rust=$?
fi

# sdk/js: unit tests, and end-to-end tests against the real server and fakes.
cargo build -q -p minibase -p minibase-testkit --bins
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
js=0
(cd sdk/js && MINIBASE_BIN="$target/debug/minibase" MINIBASE_FAKES_BIN="$target/debug/minibase-fakes" npm test) || js=$?
if [ "$rust" != 0 ] || [ "$js" != 0 ]; then
  echo "test.sh: failed (rust: $rust, sdk/js: $js)" >&2
  exit 1
fi
