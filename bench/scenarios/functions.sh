#!/usr/bin/env bash
# Cloud functions: calls/s of a trivial function (`hello`) and of a function doing one indexed
# query (`item`), side by side in one run with the same endpoints as a PocketBase JS route
# (pb_hooks routerAdd, PocketBase 0.40.6) and an Express route (Express 4 + pg on the local
# PostgreSQL). Minibase runs them on QuickJS (`hello`, `item`) and on the Node.js runtime
# (`hello-node`, `item-node`: the same code with `"runtime": "Nodejs18.15"`), and the RSS of one
# idle Node.js worker is recorded. Each target is loaded alone, one after the other, with the
# same oha settings.
#
# Knobs: BENCH_DURATION (default 10s), BENCH_CONNECTIONS (default 32).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$BENCH_ROOT"

DUR=${BENCH_DURATION:-10s}
CONN=${BENCH_CONNECTIONS:-32}
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT INT TERM

load() { # NAME URL BODY [extra oha args…]
  local name=$1 url=$2 body=$3; shift 3
  # warm up (instances, connection pools, JIT), then measure
  oha --no-tui -z 2s -c "$CONN" -m POST -H 'content-type: application/json' "$@" -d "$body" "$url" >/dev/null
  oha_run "functions-$name" -z "$DUR" -c "$CONN" -m POST -H 'content-type: application/json' "$@" -d "$body" "$url"
  record functions "$name" rps "$OHA_RPS"
  record functions "$name" p50_ms "$OHA_P50_MS"
  record functions "$name" p99_ms "$OHA_P99_MS"
  record functions "$name" ok_ratio "$OHA_OK"
}

HELLO='{"data":{"name":"bench"}}'
ITEM='{"data":{"code":"c5000"}}'

# --- Minibase: functions/hello and functions/item, called with the service key
KEY="bench-service-key-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
mkdir -p "$WORK/mb"
cp bench/peers/minibase-functions/minibase.toml "$WORK/mb/"
start_minibase "$WORK/mb" MINIBASE_AUTH__SERVICE_KEY="$KEY" \
  MINIBASE_FUNCTIONS__DIR="$BENCH_ROOT/bench/peers/minibase-functions/functions"
MB="http://127.0.0.1:$MB_PORT"
curl -sf -X POST "$MB/api/functions/seed" -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d '{}' >/dev/null
curl -sf -X POST "$MB/api/functions/item" -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d "$ITEM" | grep -q '"code":"c5000"'
load minibase-hello "$MB/api/functions/hello" "$HELLO" -H "authorization: Bearer $KEY"
load minibase-item "$MB/api/functions/item" "$ITEM" -H "authorization: Bearer $KEY"
record functions minibase rss_peak_kb "$(peak_rss_kb "$MB_PID")"
# The Node.js runtime: the same functions in Node worker processes.
curl -sf -X POST "$MB/api/functions/item-node" -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d "$ITEM" | grep -q '"code":"c5000"'
load minibase-node-hello "$MB/api/functions/hello-node" "$HELLO" -H "authorization: Bearer $KEY"
load minibase-node-item "$MB/api/functions/item-node" "$ITEM" -H "authorization: Bearer $KEY"
NODE_PIDS=$(pgrep -P "$MB_PID" || true)  # the Node workers (renamed minibase-fn-<name>)
record functions minibase-node workers "$(echo "$NODE_PIDS" | grep -c . || true)"
# One idle worker's RSS (median over the workers, after the load).
sleep 1
record functions minibase-node idle_worker_rss_kb "$(for p in $NODE_PIDS; do rss_kb "$p"; done | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}')"
bench_cleanup

# --- PocketBase: pb_hooks routerAdd routes over an indexed collection
PB_PORT=$(free_port)
cp -r bench/peers/pocketbase-functions "$WORK/pb"
pocketbase serve --dir "$WORK/pb/pb_data" --hooksDir "$WORK/pb/pb_hooks" \
  --migrationsDir "$WORK/pb/pb_migrations" --http "127.0.0.1:$PB_PORT" >"$BENCH_OUT/pocketbase-$PB_PORT.log" 2>&1 &
PB_PID=$!
BENCH_PIDS+=("$PB_PID")
wait_port "$PB_PORT" 120
PB="http://127.0.0.1:$PB_PORT"
curl -sf -X POST "$PB/api/bench/item" -H 'content-type: application/json' -d "$ITEM" | grep -q '"code":"c5000"'
load pocketbase-hello "$PB/api/bench/hello" "$HELLO"
load pocketbase-item "$PB/api/bench/item" "$ITEM"
record functions pocketbase rss_peak_kb "$(peak_rss_kb "$PB_PID")"
bench_cleanup

# --- Express: the same routes, one Node process, pg pool on the local PostgreSQL
EX_PORT=$(free_port)
(cd bench/peers/express-functions && NODE_ENV=production PORT=$EX_PORT \
  DATABASE_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}" \
  exec node server.js --seed) >"$BENCH_OUT/express-$EX_PORT.log" 2>&1 &
EX_PID=$!
BENCH_PIDS+=("$EX_PID")
wait_port "$EX_PORT" 60
EX="http://127.0.0.1:$EX_PORT"
curl -sf -X POST "$EX/api/functions/item" -H 'content-type: application/json' -d "$ITEM" | grep -q '"code":"c5000"'
load express-hello "$EX/api/functions/hello" "$HELLO"
load express-item "$EX/api/functions/item" "$ITEM"
record functions express rss_peak_kb "$(peak_rss_kb "$EX_PID")"
bench_cleanup
