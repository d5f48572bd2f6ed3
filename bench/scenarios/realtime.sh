#!/usr/bin/env bash
# Realtime: server RSS per idle WebSocket connection (each holding one watch), and fan-out
# latency of one write to 1,000 and 10,000 watchers (p50/p99 from sending the HTTP write to each
# watcher having its snapshot), with all watchers sharing one query (a public feed) and with
# 10,000 distinct queries (no sharing possible). Minibase in release mode; the load client is
# crates/realtime/examples/realtime_load.rs (release), on the same 2 cores. Loopback only;
# every loop bounded (N connections, K writes); every process stopped at the end.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
S=realtime
DIR=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$DIR"' EXIT INT TERM

# 10,000 sockets on each side (plus the server's own files): raise the descriptor limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "realtime: open files limit $(ulimit -n)"

# Both binaries copied aside: the shared target dir is rebuilt by other worktrees.
BIN=$(minibase_bin)
cp "$BIN" "$DIR/minibase"
export MINIBASE_BIN="$DIR/minibase"
(cd "$BENCH_ROOT" && cargo build --release -q -p minibase-realtime --example realtime_load) >&2
cp "${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/examples/realtime_load" "$DIR/realtime_load"

KEY="svc-bench-$(date +%s)"
# run_case NAME CONNECTIONS WRITES INTERVAL_MS [client flags...]: a fresh server per case.
run_case() {
  local name=$1 n=$2 writes=$3 interval=$4; shift 4
  local data="$DIR/$name"
  mkdir -p "$data"
  cat >"$data/minibase.toml" <<TOML
[auth]
dev_login = true
service_key = "$KEY"
[realtime]
max_connections_per_ip = 100000
[collections.feed]
read = true
write = false
TOML
  start_minibase "$data"
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MB_PORT/api/realtime")
  [ "$code" = 400 ] || { echo "realtime: GET /api/realtime answered $code, not 400: a binary without realtime?" >&2; exit 1; }
  "$DIR/realtime_load" --base "http://127.0.0.1:$MB_PORT" --service-key "$KEY" --pid "$MB_PID" \
    --connections "$n" --writes "$writes" --interval-ms "$interval" --sources 4 "$@" >"$BENCH_OUT/realtime-$name.txt"
  local line; line=$(grep '^RESULT ' "$BENCH_OUT/realtime-$name.txt" | cut -d' ' -f2-)
  echo "realtime $name: $line"
  python3 - "$name" "$line" <<'PY' | while IFS=$'\t' read -r metric value; do record "$S" minibase "$metric" "$value"; done
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
for k in ["rss_per_connection_kb", "p50_ms", "p99_ms", "max_ms", "missing", "server_cpu_ms_per_write", "connect_secs"]:
    print(f"{name}_{k}\t{r[k]}")
PY
  kill "$MB_PID"; wait "$MB_PID" 2>/dev/null || true
}

# one query shared by every watcher (a public feed), users signed in with dev login
run_case shared_1k 1000 30 300 --users
run_case shared_10k 10000 20 1000 --users
# every watcher with its own query (no sharing): the worst case for the dispatcher
run_case distinct_10k 10000 20 1000 --users --distinct
