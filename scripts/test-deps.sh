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

# storage: s3s-fs, a real S3 server over a directory (crates/storage tests, it/storage.rs).
need_cargo_bin s3s-fs s3s-fs 0.14.1 --features binary --locked

# edge: Pebble (Let's Encrypt's ACME test server) and pebble-challtestsrv for the ACME tests,
# nginx for the `minibase doctor` tests against wrongly configured peers.
need_apt pebble nginx-light

# docdb: mingo, the oracle of the query-engine differential test (crates/minibase/tests/differential).
command -v node >/dev/null || need_apt nodejs npm
need_npm_dir crates/minibase/tests/differential

# sdk/js: the client SDK's build tools (esbuild, typescript) and test helpers (ws, acorn).
need_npm_dir sdk/js

# console: Debian's Chromium and ChromeDriver for the browser tests of the admin console
# (crates/minibase/tests/it/console_browser.rs, over WebDriver), and a CJK font so the
# Chinese pages render in its screenshots.
need_apt chromium chromium-driver fonts-wqy-zenhei

# functions: Node.js for the node runtime's tests, and the npm packages real CloudBase functions
# use (axios, request, tencentcloud SMS, …) for crates/minibase/tests/it/functions_node.rs.
need_npm_dir crates/minibase/tests/fixtures/functions-npm
