#!/usr/bin/env bash
# Documents (issue 3): Minibase vs PocketBase 0.40.6 vs Express + PostgreSQL jsonb + JWT, side
# by side in one run over plain HTTP on loopback, each with an owner-only collection `todos`
# (the same rule, the same index on owner, list, due desc) and 1,000 of one user's todos:
#   create   POST a todo as that user (owner rule checked on create), concurrency 64
#   get      GET one of their todos by id (owner rule), concurrency 64
#   query    20 todos of one list, ordered by due desc (indexed), concurrency 64
#   inc      BENCH_INCS (10,000) `$inc` of one document's counter (a new one each round),
#            concurrency 100; the final value is recorded (inc_final) and checked: inc_exact 1
#            when every round ended at exactly BENCH_INCS
# Every target is started once; then BENCH_ROUNDS rounds each load the targets one after the
# other (each alone, the others idle, the same oha settings), so a machine whose speed drifts
# during the run costs every target alike. Recorded per target: the median over the rounds of
# rps, p50_ms, p99_ms and ok_ratio for each scenario (and the rounds' values, `<metric>_samples`),
# peak RSS, and the ratios of Minibase's median rps to each peer's (target `ratio`; the ratio
# round by round as `<ratio>_samples`).
#
# Knobs: BENCH_DURATION (default 10s), BENCH_ROUNDS (default 3), BENCH_INCS (default 10000),
# BENCH_TARGETS (default "minibase pocketbase express").
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$BENCH_ROOT"

DUR=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
INCS=${BENCH_INCS:-10000}
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT INT TERM

TODO='{"title":"buy milk and eggs","list":"l1","due":42,"done":false}'
Q='{"where":{"list":"l3"},"orderBy":[["due","desc"]],"limit":20}'

# Each round's values, "SCENARIO TARGET METRIC" -> "v1 v2 …"; medians are recorded at the end.
declare -A samples
sample() { samples["$1 $2 $3"]+="$4 "; }

load() { # TARGET SCENARIO ROUND CONC METHOD URL BODY|- [oha args…]
  local target=$1 scen=$2 round=$3 conc=$4 method=$5 url=$6 body=$7; shift 7
  local data=()
  [ "$body" != "-" ] && data=(-d "$body" -H 'content-type: application/json')
  oha --no-tui -z 2s -c "$conc" -m "$method" "${data[@]}" "$@" "$url" >/dev/null
  oha_run "db-$target-$scen-$round" -z "$DUR" -c "$conc" -m "$method" "${data[@]}" "$@" "$url"
  sample "db-$scen" "$target" rps "$OHA_RPS"
  sample "db-$scen" "$target" p50_ms "$OHA_P50_MS"
  sample "db-$scen" "$target" p99_ms "$OHA_P99_MS"
  sample "db-$scen" "$target" ok_ratio "$OHA_OK"
}

incs() { # TARGET ROUND METHOD URL BODY [oha args…]: exactly INCS requests, concurrency 100
  local target=$1 round=$2 method=$3 url=$4 body=$5; shift 5
  oha_run "db-$target-inc-$round" -n "$INCS" -c 100 -m "$method" -d "$body" -H 'content-type: application/json' "$@" "$url"
  sample db-inc "$target" rps "$OHA_RPS"
  sample db-inc "$target" p50_ms "$OHA_P50_MS"
  sample db-inc "$target" p99_ms "$OHA_P99_MS"
  sample db-inc "$target" ok_ratio "$OHA_OK"
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

TARGETS=()
for t in minibase pocketbase express; do
  if [[ " ${BENCH_TARGETS:-minibase pocketbase express} " == *" $t "* ]]; then TARGETS+=("$t"); fi
done

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

# Minibase and the Express peer speak the same wire API (API.md §3): one way to sign in, make
# the todo the gets read, check the query, and run a round, for both.
docs_api_ready() { # BASE: sets API_AUTH (curl/oha header args) and API_ID (the todo to get)
  local token
  token=$(curl -sf -X POST "$1/api/auth/dev/login" -H 'content-type: application/json' -d '{"openid":"bench-user"}' | json_get '["access_token"]')
  API_AUTH=(-H "authorization: Bearer $token")
  API_ID=$(curl -sf -X POST "$1/api/db/todos/docs" "${API_AUTH[@]}" -H 'content-type: application/json' -d "$TODO" | json_get '["_id"]')
  [ "$(curl -sf -X POST "$1/api/db/todos/query" "${API_AUTH[@]}" -H 'content-type: application/json' -d "$Q" | json_get '["data"].__len__()')" = 20 ]
}
docs_api_round() { # TARGET ROUND BASE ID [auth args…]
  local target=$1 round=$2 base=$3 id=$4; shift 4
  load "$target" create "$round" 64 POST "$base/api/db/todos/docs" "$TODO" "$@"
  load "$target" get "$round" 64 GET "$base/api/db/todos/docs/$id" - "$@"
  load "$target" query "$round" 64 POST "$base/api/db/todos/query" "$Q" "$@"
  local cid
  cid=$(curl -sf -X POST "$base/api/db/todos/docs" "$@" -H 'content-type: application/json' -d '{"n":0}' | json_get '["_id"]')
  incs "$target" "$round" PATCH "$base/api/db/todos/docs/$cid" '{"data":{"n":{"$inc":1}}}' "$@"
  sample db-inc "$target" inc_final "$(curl -sf "$base/api/db/todos/docs/$cid" "$@" | json_get '["data"]["n"]')"
}

# --- Minibase
setup_minibase() {
  KEY="bench-service-key-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  mkdir -p "$WORK/mb"
  cp bench/peers/minibase-db/minibase.toml "$WORK/mb/"
  start_minibase "$WORK/mb" MINIBASE_AUTH__SERVICE_KEY="$KEY" MINIBASE_AUTH__DEV_LOGIN=true
  MB="http://127.0.0.1:$MB_PORT"
  seed_minibase "$MB" "$KEY"
  docs_api_ready "$MB"
  MB_AUTH=("${API_AUTH[@]}") MB_ID=$API_ID
  TARGET_PID[minibase]=$MB_PID
}
round_minibase() { docs_api_round minibase "$1" "$MB" "$MB_ID" "${MB_AUTH[@]}"; } # ROUND

# --- PocketBase 0.40.6: the same collection, rule and index (bench/peers/pocketbase-db)
setup_pocketbase() {
  local port; port=$(free_port)
  cp -r bench/peers/pocketbase-db "$WORK/pb"
  pocketbase serve --dir "$WORK/pb/pb_data" --migrationsDir "$WORK/pb/pb_migrations" \
    --http "127.0.0.1:$port" >"$BENCH_OUT/pocketbase-db-$port.log" 2>&1 &
  TARGET_PID[pocketbase]=$!
  BENCH_PIDS+=("$!")
  wait_port "$port" 120
  PB="http://127.0.0.1:$port"
  local authj
  authj=$(curl -sf -X POST "$PB/api/collections/users/auth-with-password" -H 'content-type: application/json' \
    -d '{"identity":"bench@example.com","password":"bench-password-123"}')
  PB_AUTH=(-H "authorization: $(echo "$authj" | json_get '["token"]')")
  PB_UID=$(echo "$authj" | json_get '["record"]["id"]')
  PB_TODO="{\"owner\":\"$PB_UID\",\"title\":\"buy milk and eggs\",\"list\":\"l1\",\"due\":42,\"done\":false}"
  PB_ID=$(curl -sf -X POST "$PB/api/collections/todos/records" "${PB_AUTH[@]}" -H 'content-type: application/json' -d "$PB_TODO" | json_get '["id"]')
  PB_Q="$PB/api/collections/todos/records?filter=(list%3D'l3')&sort=-due&perPage=20&skipTotal=1"
  [ "$(curl -sf "$PB_Q" "${PB_AUTH[@]}" | json_get '["items"].__len__()')" = 20 ]
}
round_pocketbase() { # ROUND
  load pocketbase create "$1" 64 POST "$PB/api/collections/todos/records" "$PB_TODO" "${PB_AUTH[@]}"
  load pocketbase get "$1" 64 GET "$PB/api/collections/todos/records/$PB_ID" - "${PB_AUTH[@]}"
  load pocketbase query "$1" 64 GET "$PB_Q" - "${PB_AUTH[@]}"
  local cid
  cid=$(curl -sf -X POST "$PB/api/collections/todos/records" "${PB_AUTH[@]}" -H 'content-type: application/json' -d "{\"owner\":\"$PB_UID\",\"n\":0}" | json_get '["id"]')
  incs pocketbase "$1" PATCH "$PB/api/collections/todos/records/$cid" '{"n+":1}' "${PB_AUTH[@]}"
  sample db-inc pocketbase inc_final "$(curl -sf "$PB/api/collections/todos/records/$cid" "${PB_AUTH[@]}" | json_get '["n"]')"
}

# --- Express + PostgreSQL jsonb + JWT (bench/peers/express-db), one Node process
setup_express() {
  local port; port=$(free_port)
  (cd bench/peers/express-db && NODE_ENV=production PORT=$port \
    DATABASE_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}" \
    exec node server.js --seed) >"$BENCH_OUT/express-db-$port.log" 2>&1 &
  TARGET_PID[express]=$!
  BENCH_PIDS+=("$!")
  wait_port "$port" 60
  EX="http://127.0.0.1:$port"
  docs_api_ready "$EX"
  EX_AUTH=("${API_AUTH[@]}") EX_ID=$API_ID
}
round_express() { docs_api_round express "$1" "$EX" "$EX_ID" "${EX_AUTH[@]}"; } # ROUND

declare -A TARGET_PID
for t in "${TARGETS[@]}"; do "setup_$t"; done
for round in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do "round_$t" "$round"; done
done

# --- results: medians over the rounds, the rounds' values, exactness of $inc, RSS, ratios
median() { python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 2))" "$@"; }
declare -A med
for key in $(printf '%s\n' "${!samples[@]}" | tr ' ' '|' | sort); do
  key=${key//|/ }
  read -r scen target metric <<<"$key"
  vals=${samples[$key]% }
  if [ "$metric" = inc_final ]; then
    record "$scen" "$target" inc_final "$vals"
    exact=1
    for v in $vals; do if [ "$v" != "$INCS" ]; then exact=0; fi; done
    record "$scen" "$target" inc_exact "$exact"
    continue
  fi
  # shellcheck disable=SC2086
  med[$key]=$(median $vals)
  record "$scen" "$target" "$metric" "${med[$key]}"
  if [ "$ROUNDS" -gt 1 ]; then record "$scen" "$target" "${metric}_samples" "$vals"; fi
done
for t in "${TARGETS[@]}"; do record db "$t" rss_peak_kb "$(peak_rss_kb "${TARGET_PID[$t]}")"; done
for scen in create get query inc; do
  for peer in pocketbase express; do
    m=${med[db-$scen minibase rps]:-} p=${med[db-$scen $peer rps]:-}
    if [ -n "$m" ] && [ -n "$p" ]; then
      record "db-$scen" ratio "minibase_over_$peer" "$(python3 -c "print(f'{$m/$p:.2f}')")"
      # the same ratio round by round (both loaded minutes apart at most)
      record "db-$scen" ratio "minibase_over_${peer}_samples" "$(python3 -c '
import sys; m, p = sys.argv[1].split(), sys.argv[2].split()
print(" ".join(f"{float(a) / float(b):.2f}" for a, b in zip(m, p)))' "${samples[db-$scen minibase rps]}" "${samples[db-$scen $peer rps]}")"
    fi
  done
done
bench_cleanup
