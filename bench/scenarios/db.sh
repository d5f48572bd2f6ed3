#!/usr/bin/env bash
# Documents (issue 3): Minibase vs PocketBase 0.40.6 vs Express + PostgreSQL jsonb + JWT, side
# by side in one run over plain HTTP on loopback, each with an owner-only collection `todos`
# (the same rule, the same index on owner, list, due desc) and 1,000 of one user's todos:
#   create   POST a todo as that user (owner rule checked on create), concurrency 64
#   get      GET one of their todos by id (owner rule), concurrency 64
#   query    20 todos of one list, ordered by due desc (indexed), concurrency 64
#   inc      BENCH_INCS (10,000) `$inc` of one document's counter, concurrency 100; the final
#            value is recorded (inc_final) and checked: inc_exact 1 when exactly BENCH_INCS
# Recorded per target: rps, p50_ms, p99_ms, ok_ratio for each, and peak RSS.
# Each target is loaded alone, one after the other, with the same oha settings.
#
# Knobs: BENCH_DURATION (default 10s), BENCH_INCS (default 10000), BENCH_TARGETS (default
# "minibase pocketbase express").
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$BENCH_ROOT"

DUR=${BENCH_DURATION:-10s}
INCS=${BENCH_INCS:-10000}
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT INT TERM

TODO='{"title":"buy milk and eggs","list":"l1","due":42,"done":false}'
Q='{"where":{"list":"l3"},"orderBy":[["due","desc"]],"limit":20}'

load() { # TARGET SCENARIO CONC METHOD URL BODY|- [oha args…]
  local target=$1 scen=$2 conc=$3 method=$4 url=$5 body=$6; shift 6
  local data=()
  [ "$body" != "-" ] && data=(-d "$body" -H 'content-type: application/json')
  oha --no-tui -z 2s -c "$conc" -m "$method" "${data[@]}" "$@" "$url" >/dev/null
  oha_run "db-$target-$scen" -z "$DUR" -c "$conc" -m "$method" "${data[@]}" "$@" "$url"
  record "db-$scen" "$target" rps "$OHA_RPS"
  record "db-$scen" "$target" p50_ms "$OHA_P50_MS"
  record "db-$scen" "$target" p99_ms "$OHA_P99_MS"
  record "db-$scen" "$target" ok_ratio "$OHA_OK"
}

incs() { # TARGET METHOD URL BODY [oha args…]: exactly INCS requests, concurrency 100
  local target=$1 method=$2 url=$3 body=$4; shift 4
  oha_run "db-$target-inc" -n "$INCS" -c 100 -m "$method" -d "$body" -H 'content-type: application/json' "$@" "$url"
  record db-inc "$target" rps "$OHA_RPS"
  record db-inc "$target" p50_ms "$OHA_P50_MS"
  record db-inc "$target" p99_ms "$OHA_P99_MS"
  record db-inc "$target" ok_ratio "$OHA_OK"
}

seed_minibase() { # URL KEY: 1,000 todos of bench-user, written with the service key
  python3 - "$1" "$2" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(1000):
    doc = {"_openid": "bench-user", "title": f"todo {i}", "list": f"l{i % 10}", "due": i, "done": False}
    c.request("POST", "/api/db/todos/docs", json.dumps(doc), {"authorization": "Bearer " + sys.argv[2], "content-type": "application/json"})
    r = c.getresponse(); r.read(); assert r.status == 201, r.status
PY
}

want() { [[ " ${BENCH_TARGETS:-minibase pocketbase express} " == *" $1 "* ]]; }

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

# --- Minibase
if want minibase; then
  KEY="bench-service-key-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  mkdir -p "$WORK/mb"
  cp bench/peers/minibase-db/minibase.toml "$WORK/mb/"
  start_minibase "$WORK/mb" MINIBASE_AUTH__SERVICE_KEY="$KEY" MINIBASE_AUTH__DEV_LOGIN=true
  MB="http://127.0.0.1:$MB_PORT"
  TOKEN=$(curl -sf -X POST "$MB/api/auth/dev/login" -H 'content-type: application/json' -d '{"openid":"bench-user"}' | json_get '["access_token"]')
  seed_minibase "$MB" "$KEY"
  AUTH=(-H "authorization: Bearer $TOKEN")
  ID=$(curl -sf -X POST "$MB/api/db/todos/docs" "${AUTH[@]}" -H 'content-type: application/json' -d "$TODO" | json_get '["_id"]')
  CID=$(curl -sf -X POST "$MB/api/db/todos/docs" "${AUTH[@]}" -H 'content-type: application/json' -d '{"n":0}' | json_get '["_id"]')
  [ "$(curl -sf -X POST "$MB/api/db/todos/query" "${AUTH[@]}" -H 'content-type: application/json' -d "$Q" | json_get '["data"].__len__()')" = 20 ]
  load minibase create 64 POST "$MB/api/db/todos/docs" "$TODO" "${AUTH[@]}"
  load minibase get 64 GET "$MB/api/db/todos/docs/$ID" - "${AUTH[@]}"
  load minibase query 64 POST "$MB/api/db/todos/query" "$Q" "${AUTH[@]}"
  incs minibase PATCH "$MB/api/db/todos/docs/$CID" '{"data":{"n":{"$inc":1}}}' "${AUTH[@]}"
  N=$(curl -sf "$MB/api/db/todos/docs/$CID" "${AUTH[@]}" | json_get '["data"]["n"]')
  record db-inc minibase inc_final "$N"
  record db-inc minibase inc_exact "$([ "$N" = "$INCS" ] && echo 1 || echo 0)"
  record db minibase rss_peak_kb "$(peak_rss_kb "$MB_PID")"
  bench_cleanup
fi

# --- PocketBase 0.40.6: the same collection, rule and index (bench/peers/pocketbase-db)
if want pocketbase; then
  PB_PORT=$(free_port)
  cp -r bench/peers/pocketbase-db "$WORK/pb"
  pocketbase serve --dir "$WORK/pb/pb_data" --migrationsDir "$WORK/pb/pb_migrations" \
    --http "127.0.0.1:$PB_PORT" >"$BENCH_OUT/pocketbase-db-$PB_PORT.log" 2>&1 &
  PB_PID=$!
  BENCH_PIDS+=("$PB_PID")
  wait_port "$PB_PORT" 120
  PB="http://127.0.0.1:$PB_PORT"
  AUTHJ=$(curl -sf -X POST "$PB/api/collections/users/auth-with-password" -H 'content-type: application/json' \
    -d '{"identity":"bench@example.com","password":"bench-password-123"}')
  PTOKEN=$(echo "$AUTHJ" | json_get '["token"]')
  UID_=$(echo "$AUTHJ" | json_get '["record"]["id"]')
  AUTH=(-H "authorization: $PTOKEN")
  PTODO="{\"owner\":\"$UID_\",\"title\":\"buy milk and eggs\",\"list\":\"l1\",\"due\":42,\"done\":false}"
  ID=$(curl -sf -X POST "$PB/api/collections/todos/records" "${AUTH[@]}" -H 'content-type: application/json' -d "$PTODO" | json_get '["id"]')
  CID=$(curl -sf -X POST "$PB/api/collections/todos/records" "${AUTH[@]}" -H 'content-type: application/json' -d "{\"owner\":\"$UID_\",\"n\":0}" | json_get '["id"]')
  PQ="$PB/api/collections/todos/records?filter=(list%3D'l3')&sort=-due&perPage=20&skipTotal=1"
  [ "$(curl -sf "$PQ" "${AUTH[@]}" | json_get '["items"].__len__()')" = 20 ]
  load pocketbase create 64 POST "$PB/api/collections/todos/records" "$PTODO" "${AUTH[@]}"
  load pocketbase get 64 GET "$PB/api/collections/todos/records/$ID" - "${AUTH[@]}"
  load pocketbase query 64 GET "$PQ" - "${AUTH[@]}"
  incs pocketbase PATCH "$PB/api/collections/todos/records/$CID" '{"n+":1}' "${AUTH[@]}"
  N=$(curl -sf "$PB/api/collections/todos/records/$CID" "${AUTH[@]}" | json_get '["n"]')
  record db-inc pocketbase inc_final "$N"
  record db-inc pocketbase inc_exact "$([ "$N" = "$INCS" ] && echo 1 || echo 0)"
  record db pocketbase rss_peak_kb "$(peak_rss_kb "$PB_PID")"
  bench_cleanup
fi

# --- Express + PostgreSQL jsonb + JWT (bench/peers/express-db), one Node process
if want express; then
  EX_PORT=$(free_port)
  (cd bench/peers/express-db && NODE_ENV=production PORT=$EX_PORT \
    DATABASE_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}" \
    exec node server.js --seed) >"$BENCH_OUT/express-db-$EX_PORT.log" 2>&1 &
  EX_PID=$!
  BENCH_PIDS+=("$EX_PID")
  wait_port "$EX_PORT" 60
  EX="http://127.0.0.1:$EX_PORT"
  ETOKEN=$(curl -sf -X POST "$EX/api/auth/dev/login" -H 'content-type: application/json' -d '{"openid":"bench-user"}' | json_get '["access_token"]')
  AUTH=(-H "authorization: Bearer $ETOKEN")
  ID=$(curl -sf -X POST "$EX/api/db/todos/docs" "${AUTH[@]}" -H 'content-type: application/json' -d "$TODO" | json_get '["_id"]')
  CID=$(curl -sf -X POST "$EX/api/db/todos/docs" "${AUTH[@]}" -H 'content-type: application/json' -d '{"n":0}' | json_get '["_id"]')
  [ "$(curl -sf -X POST "$EX/api/db/todos/query" "${AUTH[@]}" -H 'content-type: application/json' -d "$Q" | json_get '["data"].__len__()')" = 20 ]
  load express create 64 POST "$EX/api/db/todos/docs" "$TODO" "${AUTH[@]}"
  load express get 64 GET "$EX/api/db/todos/docs/$ID" - "${AUTH[@]}"
  load express query 64 POST "$EX/api/db/todos/query" "$Q" "${AUTH[@]}"
  incs express PATCH "$EX/api/db/todos/docs/$CID" '{"data":{"n":{"$inc":1}}}' "${AUTH[@]}"
  N=$(curl -sf "$EX/api/db/todos/docs/$CID" "${AUTH[@]}" | json_get '["data"]["n"]')
  record db-inc express inc_final "$N"
  record db-inc express inc_exact "$([ "$N" = "$INCS" ] && echo 1 || echo 0)"
  record db express rss_peak_kb "$(peak_rss_kb "$EX_PID")"
  bench_cleanup
fi
