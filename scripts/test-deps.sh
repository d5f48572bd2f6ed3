#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine (Debian 12), idempotently: quick when
# everything is already there. Called by scripts/test.sh; safe to run by hand.
# Each area adds its needs below with the helpers of scripts/deps-lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps-lib.sh

# Tools every test run uses.
command -v curl >/dev/null || need_apt curl
command -v openssl >/dev/null || need_apt openssl
