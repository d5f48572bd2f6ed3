#!/usr/bin/env bash
# User-space instructions per keep-alive `GET /api/health` request (plain HTTP), counted by
# valgrind's callgrind: the same for the same binary whatever else the machine is doing, so
# two builds can be compared on a busy machine.
#   bash bench/tools/health-instructions.sh BIN [BIN ...]
# Each binary is started under callgrind; 2,000 requests warm it up, the counters are zeroed,
# N (default 20,000) requests are sent on one connection, and the dump's total is divided by N.
set -euo pipefail
N=${N:-20000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/ka.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for _ in range(n):
    s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    while True:
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            cl = next(int(l.split(b":")[1]) for l in buf[:i].split(b"\r\n") if l.lower().startswith(b"content-length"))
            if len(buf) >= i + 4 + cl:
                buf = buf[i + 4 + cl:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for bin in "$@"; do
  d="$work/$(basename "$bin")-$port"; mkdir -p "$d"
  printf '[server]\ndata_dir = "%s/data"\nhttp_addr = "127.0.0.1:%s"\nhttps_addr = ""\nlog_level = "warn"\naccess_log = false\n[tls]\nmode = "off"\n' \
    "$d" "$port" >"$d/minibase.toml"
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$bin" serve --config "$d/minibase.toml" >"$d/log" 2>&1 &
  vg=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && break; sleep 0.5; done
  python3 "$work/ka.py" "$port" 2000
  callgrind_control -z "$vg" >/dev/null 2>&1
  python3 "$work/ka.py" "$port" "$N"
  callgrind_control -d "$vg" >/dev/null 2>&1
  sleep 1
  total=$(callgrind_annotate "$d/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  echo "$bin: $((total / N)) instructions per request"
  kill "$vg"; wait "$vg" 2>/dev/null || true
  port=$((port + 1))
done
