#!/usr/bin/env bash
# loadtest.sh - the service under wrk, three workloads, every answer checked.
#
#   make loadtest                 # builds bin/web, then runs this (about a minute)
#   COMPARE=1 make loadtest       # the comparison with the Express original: compare.sh
#
# Starts bin/web on loopback with the default configuration, except
# SESSION_STORE (default redis, on a private redis-server this script starts;
# set REDIS_URL to use another), COOKIE_SECURE=false and a temporary SQLite
# file. Signs up user@example.com, then drives it with wrk:
#
#   W0  GET /login, anonymous                              -t$THREADS -c$CONNS
#   W1  GET /account with a signed-in cookie               -t$THREADS -c$CONNS
#       (every body must show the user's email: wrk/account.lua)
#   W2  POST /login -> GET /account -> POST /logout, per connection
#                                                          -t$CONNS -c$CONNS (wrk/cycle.lua)
#
# Prints requests/second and p50/p99 latency per workload; exits non-zero if
# any answer was not 2xx/3xx, a socket error or timeout occurred, a W1 body
# lacked the email, or a W2 step went wrong. W2 is bounded by argon2id (each
# login is one hash): see docs/BENCHMARKS.md.
#
# Environment: DURATION (10s) THREADS (2) CONNS (64) WARMUP (2s)
#              SESSION_STORE (redis) REDIS_URL (private server) BIN (bin/web)
#              W2_TIMEOUT (10s: wrk's default 2s is shorter than a queue of
#              64 logins waiting for argon2id on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${COMPARE:-0}" = 1 ]; then
  exec "$ROOT/scripts/compare.sh"
fi

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
STORE=${SESSION_STORE:-redis}
BIN=${BIN:-$ROOT/bin/web}
W2_TIMEOUT=${W2_TIMEOUT:-10s}

WORK=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
trap 'stop_started; rm -rf "$WORK"' EXIT

need wrk wrk
need curl curl
[ -x "$BIN" ] || die "$BIN not found: run make build (make loadtest does)"

redis_url=""
if [ "$STORE" = redis ]; then
  if [ -n "${REDIS_URL:-}" ]; then
    redis_url=$REDIS_URL
  else
    start_redis
    redis_url="redis://127.0.0.1:$REDIS_PORT/0"
  fi
fi
port=$(free_port)
base="http://127.0.0.1:$port"
start_web loadtest "$BIN" "$port" "$STORE" "$redis_url"
log "service on $base, SESSION_STORE=$STORE${redis_url:+ ($redis_url)}"
log "machine: $(machine_info)"
signup "$base"

# jnum KEY JSON: a number from wrk's flat JSON summary line.
jnum() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }

FAILED=0
ROWS=()

# run NAME WRK_ARGS...: one wrk run; checks its JSON summary.
run() {
  local name=$1 out json
  shift
  out=$(wrk "$@" 2>&1) || true
  json=$(sed -n 's/^JSON //p' <<<"$out" | tail -1)
  [ -n "$json" ] || { log "$name: wrk printed no summary:"; printf '%s\n' "$out" >&2; FAILED=1; return; }
  local req dur rps p50 p99 errs status bad=0 problems=""
  req=$(jnum requests "$json") dur=$(jnum duration_us "$json")
  rps=$(awk -v r="$req" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
  p50=$(awk -v u="$(jnum lat_p50_us "$json")" 'BEGIN { printf "%.2f", u / 1000 }')
  p99=$(awk -v u="$(jnum lat_p99_us "$json")" 'BEGIN { printf "%.2f", u / 1000 }')
  errs=$(($(jnum err_connect "$json") + $(jnum err_read "$json") + $(jnum err_write "$json") + $(jnum err_timeout "$json")))
  status=$(jnum err_status "$json")
  for k in account_bad login_bad logout_bad; do
    v=$(jnum "$k" "$json")
    [ -z "$v" ] || bad=$((bad + v))
  done
  [ "$req" -gt 0 ] || problems+=" no requests;"
  [ "$status" = 0 ] || problems+=" $status non-2xx/3xx answers;"
  [ "$errs" = 0 ] || problems+=" $errs socket errors/timeouts;"
  [ "$bad" = 0 ] || problems+=" $bad wrong answers (W1 body without $EMAIL, or a bad W2 step);"
  if [ "$name" = W2 ] && [ "$(jnum cycles "$json")" = 0 ]; then problems+=" no complete cycle;"; fi
  ROWS+=("$(printf '%-4s %10s %10s %10s   %s' "$name" "$rps" "$p50" "$p99" "${problems:-ok}")")
  if [ -n "$problems" ]; then
    FAILED=1
    log "$name FAILED:$problems"
  fi
}

cookie=$(login "$base")
log "warm-up ($WARMUP per workload)"
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$base/login" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "Cookie: $cookie" "$base/account" >/dev/null

log "W0: GET /login ($DURATION, -t$THREADS -c$CONNS)"
run W0 -t"$THREADS" -c"$CONNS" -d"$DURATION" -s scripts/wrk/report.lua "$base/login"
log "W1: GET /account signed in ($DURATION, -t$THREADS -c$CONNS)"
run W1 -t"$THREADS" -c"$CONNS" -d"$DURATION" -s scripts/wrk/account.lua -H "Cookie: $cookie" "$base/account" -- "$EMAIL"
curl -s -o /dev/null -X POST -H "Cookie: $cookie" "$base/logout"
log "W2: login -> account -> logout ($DURATION, -t$CONNS -c$CONNS, timeout $W2_TIMEOUT)"
run W2 -t"$CONNS" -c"$CONNS" -d"$DURATION" --timeout "$W2_TIMEOUT" -s scripts/wrk/cycle.lua "$base"

echo
echo "SESSION_STORE=$STORE, $DURATION per workload; loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %10s %10s %10s   %s\n' "" "req/s" "p50 ms" "p99 ms" "check"
printf '%s\n' "${ROWS[@]}"
if [ "$FAILED" != 0 ]; then
  log "service log tail:"
  tail -5 "$WORK/loadtest.log" >&2
  exit 1
fi
