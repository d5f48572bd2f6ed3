#!/usr/bin/env bash
# Installs the benchmark tools, idempotently (quick when present).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps-lib.sh
need_cargo_bin oha oha 1.9.0 --locked
need_apt wrk nginx-light
