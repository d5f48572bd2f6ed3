#!/usr/bin/env bash
# HTTPS edge, Minibase against nginx in the same run, with the same ECDSA P-256 certificate:
#   - GET /api/health over HTTPS keep-alive (HTTP/1.1),
#   - one new TLS connection per request (no keep-alive),
#   - idle RSS after start, and the time from start to the first served HTTPS request.
# nginx (Debian package) serves `return 200 '{"status":"ok"}'` with production TLS settings
# (session cache and tickets on, HTTP/2 offered, access log off); Minibase runs the release
# build with the access log off. Each server is pinned to CPU 0 and the load generator to CPU 1
# (when there are two CPUs), so the load generator does not steal the server's core.
# Tunables: BENCH_SECS (default 10), BENCH_CONC (default 50), MINIBASE_BIN (a prebuilt binary),
# BENCH_EDGE_ONLY=1 (the edge alone, see below).
source "$(dirname "$0")/../lib.sh"

SECS=${BENCH_SECS:-10}
CONC=${BENCH_CONC:-50}
work=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$work"' EXIT

server_cpu=() load_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0)
  load_cpu=(taskset -c 1)
fi

# One certificate for both: a throwaway CA and an ECDSA P-256 leaf for bench.minibase.test.
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

# load NAME URL PID [oha args]: runs oha on the load CPU; sets OHA_* and CPU_US_PER_REQ (the
# server's CPU time per request: robust when other work shares the machine).
load() {
  local name=$1 url=$2 pid=$3; shift 3
  local t0; t0=$(cpu_ticks "$pid")
  "${load_cpu[@]}" oha --no-tui --output-format json --insecure -z "${SECS}s" -c "$CONC" "$@" "$url" \
    >"$BENCH_OUT/$name.json"
  local t1; t1=$(cpu_ticks "$pid")
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
  CPU_US_PER_REQ=$(python3 -c "print(f'{($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / max(1, $OHA_RPS * $SECS):.1f}')")
}

# first_request URL PID_FILE CMD...: starts CMD, prints milliseconds until URL answers 200.
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

# ---- Minibase ------------------------------------------------------------------------------
# BENCH_EDGE_ONLY=1 measures the edge alone (crates/edge/examples/health.rs: listeners, TLS and
# a bare /api/health handler, no middleware) instead of `minibase serve`.
if [ "${BENCH_EDGE_ONLY:-}" = 1 ]; then
  (cd "$BENCH_ROOT" && cargo build --release -q -p minibase-edge --example health) >&2
  target="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}"
  mb_cmd=("$target/release/examples/health")
  mb_name=edge-only
else
  # MINIBASE_BIN: a binary to measure instead of building one (e.g. a copy, since several
  # worktrees sharing one target directory overwrite target/release/minibase).
  mb_cmd=("${MINIBASE_BIN:-$(minibase_bin)}" serve --config)
  mb_name=minibase
fi
mb_port=$(free_port)
mkdir -p "$work/mb"
cat >"$work/mb/minibase.toml" <<EOF
[server]
data_dir = "$work/mb/data"
http_addr = ""
https_addr = "127.0.0.1:$mb_port"
log_level = "warn"
access_log = false

[tls]
mode = "files"
cert_file = "$work/bundle.pem"
key_file = "$work/leaf.key"
EOF
mb_start_ms=$(first_request "https://127.0.0.1:$mb_port/api/health" "$work/mb.pid" \
  "${server_cpu[@]}" "${mb_cmd[@]}" "$work/mb/minibase.toml")
MB_PID=$(cat "$work/mb.pid"); BENCH_PIDS+=("$MB_PID")
# taskset execs the server, so the pid is Minibase's own.
sleep 1
record https "$mb_name" start_to_first_request_ms "$mb_start_ms"
record https "$mb_name" idle_rss_kb "$(rss_kb "$MB_PID")"

load mb-keepalive "https://127.0.0.1:$mb_port/api/health" "$MB_PID"
record https "$mb_name" keepalive_rps "$OHA_RPS"; record https "$mb_name" keepalive_p99_ms "$OHA_P99_MS"
record https "$mb_name" keepalive_cpu_us_per_req "$CPU_US_PER_REQ"; mb_ka_cpu=$CPU_US_PER_REQ
mb_ka=$OHA_RPS; [ "$OHA_OK" = "1.0000" ] || echo "bench: $mb_name keep-alive had non-2xx answers ($OHA_OK)" >&2
load mb-newconn "https://127.0.0.1:$mb_port/api/health" "$MB_PID" --disable-keepalive
record https "$mb_name" new_tls_conn_rps "$OHA_RPS"; record https "$mb_name" new_tls_conn_p99_ms "$OHA_P99_MS"
record https "$mb_name" new_tls_conn_cpu_us_per_req "$CPU_US_PER_REQ"; mb_nc_cpu=$CPU_US_PER_REQ
mb_nc=$OHA_RPS
record https "$mb_name" peak_rss_kb "$(peak_rss_kb "$MB_PID")"
kill "$MB_PID"; wait "$MB_PID" 2>/dev/null || true

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
ng_start_ms=$(first_request "https://127.0.0.1:$ng_port/api/health" "$work/ng.pid" \
  "${server_cpu[@]}" "$nginx_bin" -p "$work/ng" -c "$work/ng/nginx.conf" -g 'daemon off;')
NG_PID=$(cat "$work/ng.pid"); BENCH_PIDS+=("$NG_PID")
sleep 1
ng_rss=0
for p in $NG_PID $(pgrep -P "$NG_PID"); do ng_rss=$((ng_rss + $(rss_kb "$p"))); done
record https nginx start_to_first_request_ms "$ng_start_ms"
record https nginx idle_rss_kb "$ng_rss"

load ng-keepalive "https://127.0.0.1:$ng_port/api/health" "$NG_PID"
record https nginx keepalive_rps "$OHA_RPS"; record https nginx keepalive_p99_ms "$OHA_P99_MS"
record https nginx keepalive_cpu_us_per_req "$CPU_US_PER_REQ"; ng_ka_cpu=$CPU_US_PER_REQ
ng_ka=$OHA_RPS
load ng-newconn "https://127.0.0.1:$ng_port/api/health" "$NG_PID" --disable-keepalive
record https nginx new_tls_conn_rps "$OHA_RPS"; record https nginx new_tls_conn_p99_ms "$OHA_P99_MS"
record https nginx new_tls_conn_cpu_us_per_req "$CPU_US_PER_REQ"; ng_nc_cpu=$CPU_US_PER_REQ
ng_nc=$OHA_RPS
kill "$NG_PID"; wait "$NG_PID" 2>/dev/null || true

record https ratio keepalive_minibase_over_nginx "$(python3 -c "print(f'{$mb_ka/$ng_ka:.2f}')")"
record https ratio new_tls_conn_minibase_over_nginx "$(python3 -c "print(f'{$mb_nc/$ng_nc:.2f}')")"
# CPU efficiency: nginx's CPU per request over ours (> 1: we spend less per request).
record https ratio keepalive_cpu_nginx_over_minibase "$(python3 -c "print(f'{$ng_ka_cpu/$mb_ka_cpu:.2f}')")"
record https ratio new_tls_conn_cpu_nginx_over_minibase "$(python3 -c "print(f'{$ng_nc_cpu/$mb_nc_cpu:.2f}')")"
