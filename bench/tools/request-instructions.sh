#!/usr/bin/env bash
# User-space instructions per keep-alive request (plain HTTP), counted by valgrind's callgrind:
# the same for the same binary whatever else the machine is doing, so two builds can be compared
# on a busy machine.
#   bash bench/tools/request-instructions.sh [--db-get] BIN [BIN ...]
# The request is `GET /api/health`; with --db-get, a signed-in user's `GET
# /api/db/todos/docs/{id}` through the owner rule of bench/peers/minibase-db (the get of
# scenarios/db.sh: dev login on, one todo created first).
# Each binary is started under callgrind; 2,000 requests warm it up, the counters are zeroed,
# N (default 20,000) requests are sent on one connection, and the dump's total is divided by N.
set -euo pipefail
N=${N:-20000}
db_get=0
if [ "${1:-}" = --db-get ]; then db_get=1; shift; fi
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/ka.py" <<'PY'
import socket, sys
port, n, path, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
auth = f"Authorization: Bearer {token}\r\n" if token else ""
req = f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            head = buf[:i].split(b"\r\n")
            if not head[0].startswith(b"HTTP/1.1 200"):
                sys.exit("unexpected answer: " + head[0].decode())
            cl = next(int(l.split(b":")[1]) for l in head if l.lower().startswith(b"content-length"))
            if len(buf) >= i + 4 + cl:
                buf = buf[i + 4 + cl:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
PY
json_get() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for bin in "$@"; do
  d="$work/$(basename "$bin")-$port"; mkdir -p "$d"
  { printf '[server]\ndata_dir = "%s/data"\nhttp_addr = "127.0.0.1:%s"\nhttps_addr = ""\nlog_level = "warn"\naccess_log = false\n' "$d" "$port"
    printf '[tls]\nmode = "off"\n'
    if [ "$db_get" = 1 ]; then printf '[auth]\ndev_login = true\n'; cat "$root/bench/peers/minibase-db/minibase.toml"; fi
  } >"$d/minibase.toml"
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$bin" serve --config "$d/minibase.toml" >"$d/log" 2>&1 &
  vg=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && break; sleep 0.5; done
  path=/api/health token=
  if [ "$db_get" = 1 ]; then
    token=$(curl -sf -X POST "http://127.0.0.1:$port/api/auth/dev/login" -H 'content-type: application/json' \
      -d '{"openid":"bench-user"}' | json_get access_token)
    id=$(curl -sf -X POST "http://127.0.0.1:$port/api/db/todos/docs" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d '{"title":"buy milk and eggs","list":"l1","due":42,"done":false}' | json_get _id)
    path="/api/db/todos/docs/$id"
  fi
  python3 "$work/ka.py" "$port" 2000 "$path" "$token"
  callgrind_control -z "$vg" >/dev/null 2>&1
  python3 "$work/ka.py" "$port" "$N" "$path" "$token"
  callgrind_control -d "$vg" >/dev/null 2>&1
  sleep 1
  total=$(callgrind_annotate "$d/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  echo "$bin: $((total / N)) instructions per request ($path)"
  kill "$vg"; wait "$vg" 2>/dev/null || true
  port=$((port + 1))
done
