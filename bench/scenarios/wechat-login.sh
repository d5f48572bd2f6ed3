#!/usr/bin/env bash
# WeChat login: `POST /api/auth/wechat/login` per second against the fake WeChat server
# (`minibase dev fake-wechat`) on loopback. Each request carries a fresh single-use code, so
# every login is a real jscode2session round trip + user upsert + sealed session_key + new
# session + JWT. Three loads, one after the other, same wrk settings:
#   fake-jscode2session  the fake alone (the upstream's ceiling on this machine)
#   login-new            every login a new user
#   login-returning      1,000 users logging in again and again
#
# Knobs: BENCH_DURATION (default 10s), BENCH_CONNECTIONS (default 32), BENCH_THREADS (2).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$BENCH_ROOT"

DUR=${BENCH_DURATION:-10s}
CONN=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
LUA="$BENCH_ROOT/bench/scenarios/wechat/login.lua"
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT INT TERM

APPID=wxfa4e0000000c0de1
SECRET=fake-app-secret-0123456789abcdef

# wrk_run NAME URL MODE: runs wrk and records rps, p50, p99 and the share of 2xx answers.
wrk_run() {
  local name=$1 url=$2 mode=$3
  wrk -t"$THREADS" -c"$CONN" -d2s -s "$LUA" "$url" -- "$mode" "$APPID" "$SECRET" "$name-warm" >/dev/null
  wrk -t"$THREADS" -c"$CONN" -d"$DUR" --latency -s "$LUA" "$url" -- "$mode" "$APPID" "$SECRET" "$name" \
    >"$BENCH_OUT/wechat-$name.txt"
  read -r RPS P50 P99 OK < <(python3 - "$BENCH_OUT/wechat-$name.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m: return 0.0
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
total = int(re.search(r"(\d+) requests in", t).group(1)) or 1
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
errs = re.search(r"Socket errors:.*?connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
nbad = (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)
print(f"{rps:.0f} {ms('50'):.2f} {ms('99'):.2f} {1 - nbad / total:.4f}")
PY
)
  record wechat-login "$name" rps "$RPS"
  record wechat-login "$name" p50_ms "$P50"
  record wechat-login "$name" p99_ms "$P99"
  record wechat-login "$name" ok_ratio "$OK"
}

BIN=$(minibase_bin)
FW_PORT=$(free_port)
"$BIN" dev fake-wechat --addr "127.0.0.1:$FW_PORT" --appid "$APPID" --secret "$SECRET" \
  >"$BENCH_OUT/fake-wechat-$FW_PORT.log" 2>&1 &
BENCH_PIDS+=("$!")
wait_port "$FW_PORT"
FW="http://127.0.0.1:$FW_PORT"

wrk_run fake-jscode2session "$FW" fake

mkdir -p "$WORK/mb"
start_minibase "$WORK/mb" MINIBASE_WECHAT__API_BASE="$FW" MINIBASE_WECHAT__APPID="$APPID" \
  MINIBASE_WECHAT__SECRET="$SECRET"
MB="http://127.0.0.1:$MB_PORT"
curl -sf -X POST "$MB/api/auth/wechat/login" -H 'content-type: application/json' \
  -d '{"code":"openid:bench-check"}' | grep -q '"openid":"bench-check"'
wrk_run login-new "$MB" new
wrk_run login-returning "$MB" returning
record wechat-login minibase rss_peak_kb "$(peak_rss_kb "$MB_PID")"
bench_cleanup
