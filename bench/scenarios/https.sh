#!/usr/bin/env bash
# HTTPS edge: Minibase against nginx in the same run, with the same ECDSA P-256 certificate.
#   - GET /api/health over HTTPS keep-alive (HTTP/1.1, BENCH_CONC connections),
#   - one new TLS connection per request (no keep-alive),
#   - idle RSS after start, and the time from start to the first served HTTPS request.
# nginx (Debian package) serves `return 200 '{"status":"ok"}'` with production TLS settings
# (session cache and tickets on, HTTP/2 offered, access log off); Minibase runs the release
# build with the access log off. Optionally (BENCH_EDGE_ONLY=1) the edge alone is measured too
# (crates/edge/examples/health.rs: listeners, TLS and a bare handler, no middleware).
#
# All servers run at once, pinned to CPU 0; the load generator runs on CPU 1. Loads alternate
# between the servers for BENCH_ROUNDS rounds and the medians are recorded, so that other work
# on the machine affects every server alike. Besides requests per second, the server's CPU time
# per request (from /proc) is recorded: it is the figure least disturbed by a busy machine.
#
# Tunables: BENCH_SECS (per load, default 10), BENCH_CONC (default 50), BENCH_ROUNDS (default
# 3), MINIBASE_BIN (a prebuilt binary: worktrees sharing one target directory overwrite
# target/release/minibase), BENCH_EDGE_ONLY=1.
source "$(dirname "$0")/../lib.sh"

SECS=${BENCH_SECS:-10}
CONC=${BENCH_CONC:-50}
ROUNDS=${BENCH_ROUNDS:-3}
work=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$work"' EXIT

server_cpu=() load_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0)
  load_cpu=(taskset -c 1)
fi

# One certificate for all: a throwaway CA and an ECDSA P-256 leaf.
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca.key" -subj "/CN=Minibase bench CA" -days 2 -out "$work/ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/leaf.key" 2>/dev/null
openssl req -new -key "$work/leaf.key" -subj "/CN=bench.minibase.test" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:bench.minibase.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext.cnf" -out "$work/leaf.pem" 2>/dev/null
cat "$work/leaf.pem" "$work/ca.pem" >"$work/bundle.pem"
chmod 600 "$work/leaf.key"

# cpu_ticks PID: CPU time (user + system, clock ticks) of PID and its children (nginx workers).
cpu_ticks() {
  local t=0 p f
  for p in "$1" $(pgrep -P "$1"); do
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}

# rss_tree_kb PID: resident memory of PID and its children.
rss_tree_kb() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1"); do t=$((t + $(rss_kb "$p"))); done
  echo "$t"
}

# load NAME URL PID [oha args]: one oha run on the load CPU; prints "rps cpu_us_per_req p99_ms".
load() {
  local name=$1 url=$2 pid=$3; shift 3
  local t0 t1
  t0=$(cpu_ticks "$pid")
  "${load_cpu[@]}" oha --no-tui --output-format json --insecure -z "${SECS}s" -c "$CONC" "$@" "$url" \
    >"$BENCH_OUT/$name.json"
  t1=$(cpu_ticks "$pid")
  python3 - "$BENCH_OUT/$name.json" "$t0" "$t1" "$(getconf CLK_TCK)" "$SECS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); t0, t1, hz, secs = (float(x) for x in sys.argv[2:])
s = d["summary"]; p = d.get("latencyPercentiles", {})
codes = d.get("statusCodeDistribution", {})
total = sum(codes.values()) or 1
ok = sum(v for k, v in codes.items() if str(k).startswith("2")) / total
if ok < 0.999:
    print(f"bench: {sys.argv[1]}: only {ok:.2%} 2xx answers", file=sys.stderr)
rps = s["requestsPerSec"]
print(f'{rps:.0f} {(t1 - t0) / hz * 1e6 / max(1.0, rps * secs):.1f} {p.get("p99", 0) * 1000:.2f}')
PY
}

# first_request URL PIDFILE CMD...: starts CMD, prints milliseconds until URL answers 200.
first_request() {
  local url=$1 pidfile=$2; shift 2
  python3 - "$url" "$pidfile" "$@" <<'PY'
import ssl, subprocess, sys, time, urllib.request
url, pidfile, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
start = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(pidfile + ".log", "w"))
open(pidfile, "w").write(str(p.pid))
while True:
    try:
        if urllib.request.urlopen(url, context=ctx, timeout=1).status == 200:
            break
    except Exception:
        if p.poll() is not None:
            sys.exit("the server exited: see " + pidfile + ".log")
        time.sleep(0.002)
    if time.monotonic() - start > 30:
        sys.exit("no answer within 30 s")
print(f"{(time.monotonic() - start) * 1000:.0f}")
PY
}

names=() urls=() pids=()

# ---- Minibase ------------------------------------------------------------------------------
start_mb() { # NAME CMD... (the config path is appended)
  local name=$1; shift
  local port; port=$(free_port)
  mkdir -p "$work/$name"
  cat >"$work/$name/minibase.toml" <<EOF
[server]
data_dir = "$work/$name/data"
http_addr = ""
https_addr = "127.0.0.1:$port"
log_level = "warn"
access_log = false

[tls]
mode = "files"
cert_file = "$work/bundle.pem"
key_file = "$work/leaf.key"
EOF
  local ms; ms=$(first_request "https://127.0.0.1:$port/api/health" "$work/$name.pid" \
    "${server_cpu[@]}" "$@" "$work/$name/minibase.toml")
  local pid; pid=$(cat "$work/$name.pid"); BENCH_PIDS+=("$pid") # taskset execs: the server's pid
  record https "$name" start_to_first_request_ms "$ms"
  names+=("$name"); urls+=("https://127.0.0.1:$port/api/health"); pids+=("$pid")
}
start_mb minibase "${MINIBASE_BIN:-$(minibase_bin)}" serve --config
if [ "${BENCH_EDGE_ONLY:-}" = 1 ]; then
  (cd "$BENCH_ROOT" && cargo build --release -q -p minibase-edge --example health) >&2
  start_mb edge-only "${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/examples/health"
fi

# ---- nginx ---------------------------------------------------------------------------------
ng_port=$(free_port)
mkdir -p "$work/ng"
cat >"$work/ng/nginx.conf" <<EOF
worker_processes auto;
pid $work/ng/nginx.pid;
error_log $work/ng/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/ng/body; proxy_temp_path $work/ng/proxy;
  fastcgi_temp_path $work/ng/fastcgi; uwsgi_temp_path $work/ng/uwsgi; scgi_temp_path $work/ng/scgi;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$ng_port ssl http2;
    ssl_certificate $work/bundle.pem;
    ssl_certificate_key $work/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1d;
    location = /api/health { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
EOF
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
ng_ms=$(first_request "https://127.0.0.1:$ng_port/api/health" "$work/ng.pid" \
  "${server_cpu[@]}" "$nginx_bin" -p "$work/ng" -c "$work/ng/nginx.conf" -g 'daemon off;')
NG_PID=$(cat "$work/ng.pid"); BENCH_PIDS+=("$NG_PID")
record https nginx start_to_first_request_ms "$ng_ms"
names+=(nginx); urls+=("https://127.0.0.1:$ng_port/api/health"); pids+=("$NG_PID")

sleep 1
for i in "${!names[@]}"; do record https "${names[$i]}" idle_rss_kb "$(rss_tree_kb "${pids[$i]}")"; done

# ---- load, alternating -----------------------------------------------------------------------
declare -A samples
for round in $(seq "$ROUNDS"); do
  for kind in keepalive new_tls_conn; do
    extra=(); [ "$kind" = new_tls_conn ] && extra=(--disable-keepalive)
    for i in "${!names[@]}"; do
      read -r rps cpu p99 < <(load "${names[$i]}-$kind-$round" "${urls[$i]}" "${pids[$i]}" "${extra[@]}")
      samples["${names[$i]} $kind rps"]+="$rps "
      samples["${names[$i]} $kind cpu"]+="$cpu "
      samples["${names[$i]} $kind p99"]+="$p99 "
    done
  done
done
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
declare -A med
for key in "${!samples[@]}"; do
  read -r name kind what <<<"$key"
  # shellcheck disable=SC2086
  med[$key]=$(median ${samples[$key]})
  unit=$([ "$what" = rps ] && echo rps || ([ "$what" = cpu ] && echo cpu_us_per_req || echo p99_ms))
  record https "$name" "${kind}_${unit}" "${med[$key]}"
  record https "$name" "${kind}_${unit}_samples" "${samples[$key]% }"
done
for i in "${!names[@]}"; do record https "${names[$i]}" peak_rss_kb "$(peak_rss_kb "${pids[$i]}")"; done

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
for name in "${names[@]}"; do
  [ "$name" = nginx ] && continue
  for kind in keepalive new_tls_conn; do
    record https ratio "${kind}_rps_${name}_over_nginx" "$(ratio "${med[$name $kind rps]}" "${med[nginx $kind rps]}")"
    # CPU per request, nginx's over ours: > 1 means we spend less per request.
    record https ratio "${kind}_cpu_nginx_over_${name}" "$(ratio "${med[nginx $kind cpu]}" "${med[$name $kind cpu]}")"
  done
done
