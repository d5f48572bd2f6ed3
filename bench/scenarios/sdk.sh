#!/usr/bin/env bash
# The client SDK (sdk/js): overhead per call against a hand-written request, in process and over
# loopback against Minibase (bench/sdk/overhead.js), and the size of the WeChat build beside
# CloudBase's (@cloudbase/js-sdk's miniprogram_dist/index.js, bench/peers/cloudbase-js-sdk), both
# minified by esbuild and gzipped at level 9. Loopback only; every loop bounded; the server is
# stopped at the end.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
S=sdk
DIR=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$DIR"' EXIT INT TERM

(cd "$BENCH_ROOT/sdk/js" && npm run -s build >/dev/null)

# sizes: ours as shipped; CloudBase's WeChat bundle as published, and minified again by esbuild
esbuild="$BENCH_ROOT/sdk/js/node_modules/.bin/esbuild"
ours="$BENCH_ROOT/sdk/js/dist/minibase.wx.js"
theirs="$BENCH_ROOT/bench/peers/cloudbase-js-sdk/node_modules/@cloudbase/js-sdk/miniprogram_dist/index.js"
"$esbuild" "$theirs" --minify --log-level=error --outfile="$DIR/cloudbase.min.js"
size() { wc -c <"$1" | tr -d ' '; }
gz() { gzip -9c "$1" | wc -c | tr -d ' '; }
record "$S" minibase wx_build_min_bytes "$(size "$ours")"
record "$S" minibase wx_build_min_gzip_bytes "$(gz "$ours")"
record "$S" cloudbase wx_build_published_bytes "$(size "$theirs")"
record "$S" cloudbase wx_build_published_gzip_bytes "$(gz "$theirs")"
record "$S" cloudbase wx_build_min_bytes "$(size "$DIR/cloudbase.min.js")"
record "$S" cloudbase wx_build_min_gzip_bytes "$(gz "$DIR/cloudbase.min.js")"

# overhead: a fresh server with dev login
BIN=$(minibase_bin)
cp "$BIN" "$DIR/minibase"
export MINIBASE_BIN="$DIR/minibase"
mkdir -p "$DIR/data"
cat >"$DIR/data/minibase.toml" <<TOML
[auth]
dev_login = true
[collections.bench]
read = true
write = true
TOML
start_minibase "$DIR/data"
node "$BENCH_ROOT/bench/sdk/overhead.js" "http://127.0.0.1:$MB_PORT" >"$BENCH_OUT/sdk-overhead.txt"
line=$(grep '^RESULT ' "$BENCH_OUT/sdk-overhead.txt" | cut -d' ' -f2-)
echo "sdk overhead: $line"
python3 - "$line" <<'PY' | while IFS=$'\t' read -r metric value; do record "$S" minibase-sdk "$metric" "$value"; done
import json, sys
r = json.loads(sys.argv[1])
for k in ["local_raw_us", "local_sdk_us", "local_overhead_us", "net_raw_us", "net_sdk_us", "net_overhead_us"]:
    print(f"{k}\t{r[k]}")
PY
kill "$MB_PID"; wait "$MB_PID" 2>/dev/null || true
