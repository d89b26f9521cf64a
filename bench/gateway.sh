#!/usr/bin/env bash
# Gateway pass-through against nginx and a direct call, side by side in one
# run (docs/benchmarks.md, "Gateway pass-through"). One `souk up`; the upstream is the auth
# instance's GET /.well-known/jwks.json (in memory, public, ~200 bytes of
# JSON). Targets, round-robin, ROUNDS times, wrk -t2 -c64 for DURATION each:
#
#   direct        wrk → auth instance
#   nginx         wrk → nginx → auth instance      (no token)
#   gateway       wrk → gateway → auth instance    (public route, no token)
#   nginx-auth    as nginx, with a user's bearer token (nginx does not check it)
#   gateway-auth  wrk → gateway route "auth: user" (token verified, then
#                 rewritten to /.well-known/jwks.json) → auth instance
#   evloop        wrk → bench/evloop → auth instance: an experiment, a bare
#                 pass-through proxy on one epoll event loop per core (what
#                 the I/O model alone is worth; EVLOOP=0 leaves it out,
#                 EVLOOP_LOOPS sets its loops, default one per core as nginx)
#
# The gateway runs with SOUK_GATEWAY_RATE=0 and SOUK_GATEWAY_ANON_RATE=0 (no
# rate limits: wrk is one client at one address) and nginx has no limits
# either. Prints a table and writes $OUT/gateway.json.
#
#   bash bench/gateway.sh                       # 3 rounds of 10 s
#   ROUNDS=5 bash bench/gateway.sh
#   PROFILE=1 bash bench/gateway.sh             # also a 10 s CPU profile of the gateway under load
#   GATEWAY_ENV="GOGC=400" bash bench/gateway.sh   # extra environment for the gateway only
#   HOLD=1 bash bench/gateway.sh                # set up, write $OUT/env.sh, hold the lock and wait
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-0}
GATEWAY_ENV=${GATEWAY_ENV:-}
OUT=${OUT:-bench/out/gateway-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_lock

for pkg in wrk:wrk nginx:nginx-light curl:curl python3:python3; do
  command -v "${pkg%%:*}" >/dev/null || [ -x "/usr/sbin/${pkg%%:*}" ] || apt-get install -y "${pkg#*:}"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

bench_build "$OUT"
EVLOOP=${EVLOOP:-1}
[ "$EVLOOP" = 0 ] || go build -o "$OUT/evloop" ./bench/evloop
ADDR=${ADDR:-127.0.0.1:$(free_port)}
PPROF=127.0.0.1:$(free_port)

# The default routes plus one user-only route onto the same upstream path.
"$SOUK" routes > "$OUT/routes.yaml"
cat >> "$OUT/routes.yaml" <<'EOF'
- auth: user
  methods:
  - GET
  prefix: /bench/jwks.json
  rewrite: /.well-known/jwks.json
  service: auth
EOF

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# souk up passes its environment to every service: the gateway-only
# settings are the SOUK_GATEWAY_* ones (GOGC and friends in GATEWAY_ENV would
# reach every service, so the launcher's per-service variables carry them).
env SOUK_GATEWAY_ROUTES="$OUT/routes.yaml" SOUK_GATEWAY_RATE=0 SOUK_GATEWAY_ANON_RATE=0 \
  SOUK_GATEWAY_PPROF_ADDR="$PPROF" $GATEWAY_ENV \
  "$SOUK" up --quiet --addr "$ADDR" --data "$OUT/data" > "$OUT/up.log" 2>&1 &
up=$!
pids+=("$up")
wait_ready "$OUT/up.log" "$up" 600 || exit 1

SOUK_GATEWAY="http://$ADDR" "$SOUK" status --json > "$OUT/status.json"
read -r AUTH AUTH_PID GW_PID < <(python3 - "$OUT/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["services"]
a, g = s["auth"]["instances"][0], s["gateway"]["instances"][0]
print(a["addr"], a["pid"], g["pid"])
PY
)

# A user and a token (15 minutes: longer than the run).
email="bench-$(date +%s)-$$@example.com"
curl -sf -o /dev/null -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"bench-password-1\",\"name\":\"Bench\"}" "http://$ADDR/api/v1/auth/signup"
TOKEN=$(curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"bench-password-1\"}" "http://$ADDR/api/v1/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# nginx as a reverse proxy tuned the usual way: one worker per core,
# keep-alive to clients and to the upstream, HTTP/1.1 upstream, a buffered
# JSON access log like the gateway's (64 KiB buffer, flushed every 100 ms),
# the same forwarded and response headers the gateway sets, no limits.
NGINX_PORT=$(free_port)
mkdir -p "$OUT/nginx/tmp"
cat > "$OUT/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  client_body_temp_path $OUT/nginx/tmp/body;
  proxy_temp_path $OUT/nginx/tmp/proxy;
  fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
  uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
  scgi_temp_path $OUT/nginx/tmp/scgi;
  log_format gw escape=json '{"time":"\$time_iso8601","msg":"request","method":"\$request_method","path":"\$uri","status":\$status,"ms":\$request_time,"request_id":"\$request_id","upstream":"\$upstream_addr","client_ip":"\$remote_addr"}';
  access_log $OUT/nginx/access.log gw buffer=64k flush=100ms;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server_tokens off;
  upstream auth {
    server $AUTH;
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://auth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id \$request_id;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto http;
      proxy_connect_timeout 1s;
      proxy_read_timeout 5s;
      add_header X-Request-Id \$request_id always;
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options DENY always;
      add_header Referrer-Policy no-referrer always;
    }
  }
}
EOF
"$NGINX" -t -q -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" 2>&1 | grep -v "could not open error log" || true
"$NGINX" -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" 2> "$OUT/nginx/stderr.log" &
NGINX_PID=$!
pids+=("$NGINX_PID")
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/.well-known/jwks.json" && break; sleep 0.1; done

EVLOOP_URL="" EVLOOP_PID=""
if [ "$EVLOOP" != 0 ]; then
  EVLOOP_PORT=$(free_port)
  "$OUT/evloop" -listen "127.0.0.1:$EVLOOP_PORT" -upstream "$AUTH" -loops "${EVLOOP_LOOPS:-$(nproc)}" \
    -log "$OUT/evloop-access.log" > "$OUT/evloop.log" 2>&1 &
  EVLOOP_PID=$!
  pids+=("$EVLOOP_PID")
  EVLOOP_URL="http://127.0.0.1:$EVLOOP_PORT"
  for _ in $(seq 1 50); do curl -sf -o /dev/null "$EVLOOP_URL/.well-known/jwks.json" && break; sleep 0.1; done
fi

cat > "$OUT/env.sh" <<EOF
ADDR=$ADDR AUTH=$AUTH NGINX=127.0.0.1:$NGINX_PORT PPROF=$PPROF GW_PID=$GW_PID AUTH_PID=$AUTH_PID NGINX_PID=$NGINX_PID UP_PID=$up EVLOOP=$EVLOOP_URL EVLOOP_PID=$EVLOOP_PID
NATS_URL=$(grep -o 'url=nats://[0-9.:]*' "$OUT/up.log" | head -1 | cut -d= -f2)
TOKEN=$TOKEN
EOF
if [ "${HOLD:-0}" = 1 ]; then
  # Keep the system up (and the lock held) for manual profiling until
  # HOLD_SECONDS pass or this script is stopped; the addresses are in env.sh.
  echo "holding: source $OUT/env.sh"
  sleep "${HOLD_SECONDS:-900}" &
  pids+=("$!")
  wait "$!" || true
  exit 0
fi

python3 bench/gateway.py --out "$OUT" --rounds "$ROUNDS" --duration "$DURATION" --conns "$CONNS" --threads "$THREADS" \
  --direct "http://$AUTH" --nginx "http://127.0.0.1:$NGINX_PORT" --gateway "http://$ADDR" --token "$TOKEN" \
  --pid "auth=$AUTH_PID" --pid "gateway=$GW_PID" --pid "nginx=$NGINX_PID" --pid "launcher=$up" \
  ${EVLOOP_PID:+--evloop "$EVLOOP_URL" --pid "evloop=$EVLOOP_PID"} \
  --pprof "$([ "$PROFILE" = 1 ] && echo "$PPROF")" --gateway-env "$GATEWAY_ENV"
