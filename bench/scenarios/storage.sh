#!/usr/bin/env bash
# Storage: upload and download throughput of 1 MiB files at concurrency 32, and peak RSS while
# 100 clients upload 50 MiB each (must stay flat: uploads are streamed, never buffered).
# Local disk backend, dev login for a user token. Loopback only; every loop bounded.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
S=storage
DIR=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$DIR"' EXIT INT TERM
cat >"$DIR/minibase.toml" <<TOML
[auth]
dev_login = true
[limits]
upload = "64MiB"
TOML
start_minibase "$DIR"
BASE="http://127.0.0.1:$MB_PORT"
TOKEN=$(curl -sf -X POST "$BASE/api/auth/dev/login" -H 'content-type: application/json' -d '{"openid":"oBench"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# --- upload 1 MiB x 2000 at c=32, unique cloudPath per request (wrk + Lua builds each body)
head -c $((1024 * 1024)) /dev/urandom >"$DIR/1m.bin"
cat >"$DIR/upload.lua" <<LUA
local f = io.open("$DIR/1m.bin", "rb"); local data = f:read("*all"); f:close()
local b = "----mbbench"
local n = 0
local thread_id = 0
function setup(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
function request()
  n = n + 1
  local body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"cloudPath\"\r\n\r\nbench/" .. tid .. "-" .. n .. ".bin\r\n"
    .. "--" .. b .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    .. data .. "\r\n--" .. b .. "--\r\n"
  return wrk.format("POST", "/api/storage/upload", {["Content-Type"] = "multipart/form-data; boundary=" .. b, ["Authorization"] = "Bearer $TOKEN"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.2f %.2f %d\n", summary.requests, summary.duration, latency:percentile(50)/1000, latency:percentile(99)/1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
wrk -t4 -c32 -d15s --timeout 30s -s "$DIR/upload.lua" "$BASE" >"$BENCH_OUT/storage-upload.txt"
read -r _ REQS DUR_US P50 P99 ERRS < <(grep '^RESULT' "$BENCH_OUT/storage-upload.txt")
RPS=$(python3 -c "print(round($REQS / ($DUR_US / 1e6)))")
record "$S" minibase upload_1mib_c32_files_per_s "$RPS"
record "$S" minibase upload_1mib_c32_p50_ms "$P50"
record "$S" minibase upload_1mib_c32_p99_ms "$P99"
record "$S" minibase upload_1mib_c32_errors "$ERRS"

# --- download 1 MiB at c=32 through a temporary URL
curl -sf -X POST "$BASE/api/storage/upload" -H "Authorization: Bearer $TOKEN" \
  -F cloudPath=bench/dl.bin -F "file=@$DIR/1m.bin" >/dev/null
URL=$(curl -sf -X POST "$BASE/api/storage/temp-urls" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"fileList":[{"fileID":"mb://bench/dl.bin","maxAge":3600}]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["fileList"][0]["tempFileURL"])')
oha_run storage-download -c 32 -z 15s "$URL"
record "$S" minibase download_1mib_c32_files_per_s "$OHA_RPS"
record "$S" minibase download_1mib_c32_p99_ms "$OHA_P99_MS"
record "$S" minibase download_1mib_c32_ok "$OHA_OK"

# --- peak RSS while 100 clients upload at once: 5 MiB each, then 50 MiB each, each on a fresh
# server so each peak is its own. Streaming means the two peaks are about equal (memory does not
# grow with file size); buffering would need 100 x 50 MiB = 5 GiB.
make_form() { # make_form FILE MIB
  python3 - "$1" "$2" <<'PY'
import os, sys
b = b"----mbbench"
with open(sys.argv[1], "wb") as f:
    f.write(b"--" + b + b'\r\nContent-Disposition: form-data; name="cloudPath"\r\n\r\nbench/big.bin\r\n')
    f.write(b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n')
    for _ in range(int(sys.argv[2])):
        f.write(os.urandom(1024 * 1024))
    f.write(b"\r\n--" + b + b"--\r\n")
PY
}
for MIB in 5 50; do
  kill "$MB_PID"; wait "$MB_PID" 2>/dev/null || true
  rm -rf "$DIR/storage"
  start_minibase "$DIR"
  BASE="http://127.0.0.1:$MB_PORT"
  TOKEN=$(curl -sf -X POST "$BASE/api/auth/dev/login" -H 'content-type: application/json' -d '{"openid":"oBench"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  RSS_IDLE=$(rss_kb "$MB_PID")
  make_form "$DIR/form.bin" "$MIB"
  oha_run "storage-rss-$MIB" -c 100 -n 100 -m POST -T "multipart/form-data; boundary=----mbbench" \
    -H "Authorization: Bearer $TOKEN" -D "$DIR/form.bin" -t 300s "$BASE/api/storage/upload"
  record "$S" minibase "rss_idle_before_100x${MIB}mib_mib" "$((RSS_IDLE / 1024))"
  record "$S" minibase "rss_peak_100x${MIB}mib_uploads_mib" "$(( $(peak_rss_kb "$MB_PID") / 1024 ))"
  record "$S" minibase "rss_100x${MIB}mib_ok" "$OHA_OK"
  rm -f "$DIR/form.bin"
done
