#!/usr/bin/env bash
# Shared helpers for bench/scenarios/*.sh. Source it; see bench/README.md.
set -euo pipefail
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${MINIBASE_TOOLS_DIR:-$HOME/.cache/minibase-tools}/bin:$PATH"
: "${BENCH_OUT:=$BENCH_ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$BENCH_OUT"
export BENCH_OUT

BENCH_PIDS=()
bench_cleanup() {
  for pid in "${BENCH_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
}
trap bench_cleanup EXIT INT TERM

# free_port: prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: waits until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-30} i=0
  while ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt $((secs * 20)) ]; then echo "bench: nothing listens on $port after ${secs}s" >&2; return 1; fi
    sleep 0.05
  done
}

# minibase_bin: builds Minibase in release mode once per run and prints the binary's path.
# MINIBASE_BIN=/path/to/minibase uses that binary instead (the shared target dir of this
# machine is rebuilt by other worktrees: copy your build aside and point this at it).
minibase_bin() {
  if [ -n "${MINIBASE_BIN:-}" ]; then echo "$MINIBASE_BIN"; return 0; fi
  local target="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}"
  if [ -z "${MINIBASE_BIN_BUILT:-}" ]; then
    (cd "$BENCH_ROOT" && cargo build --release -q -p minibase) >&2
    export MINIBASE_BIN_BUILT=1
  fi
  echo "$target/release/minibase"
}

# start_minibase DIR [ENV=VALUE...]: starts Minibase with data in DIR (and DIR/minibase.toml if
# present) on a free port; sets MB_PID and MB_PORT.
start_minibase() {
  local dir=$1; shift
  local bin; bin=$(minibase_bin)
  MB_PORT=$(free_port)
  local cfg=()
  [ -f "$dir/minibase.toml" ] && cfg=(--config "$dir/minibase.toml")
  env MINIBASE_SERVER__HTTP_ADDR="127.0.0.1:$MB_PORT" MINIBASE_SERVER__ACCESS_LOG=false "$@" \
    "$bin" serve "${cfg[@]}" --data-dir "$dir" >"$BENCH_OUT/minibase-$MB_PORT.log" 2>&1 &
  MB_PID=$!
  BENCH_PIDS+=("$MB_PID")
  wait_port "$MB_PORT"
}

# rss_kb PID / peak_rss_kb PID: resident set size now / at its peak, in KiB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# record SCENARIO TARGET METRIC VALUE: appends one result row and echoes it.
record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" | tee -a "$BENCH_OUT/results.tsv"
}

# oha_run NAME [oha args...]: runs oha with JSON output into $BENCH_OUT/NAME.json and sets
# OHA_RPS, OHA_P50_MS, OHA_P99_MS, OHA_OK (fraction of 2xx).
oha_run() {
  local name=$1; shift
  oha --no-tui --output-format json "$@" >"$BENCH_OUT/$name.json"
  read -r OHA_RPS OHA_P50_MS OHA_P99_MS OHA_OK < <(python3 - "$BENCH_OUT/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]; p = d.get("latencyPercentiles", {})
codes = d.get("statusCodeDistribution", {})
total = sum(codes.values()) or 1
ok = sum(v for k, v in codes.items() if str(k).startswith("2")) / total
print(f'{s["requestsPerSec"]:.0f} {p.get("p50", 0)*1000:.2f} {p.get("p99", 0)*1000:.2f} {ok:.4f}')
PY
)
}
