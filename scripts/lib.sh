# lib.sh - helpers shared by loadtest.sh and compare.sh (sourced, not run).
# Expects: set -euo pipefail, and $WORK, a private temporary directory.

EMAIL=user@example.com
PASSWORD='correct horse battery staple'

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# Processes this script started, stopped (by pid) when it exits.
STARTED_PIDS=()
stop_started() {
  local p
  for p in "${STARTED_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${STARTED_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# free_port: a loopback TCP port nobody listens on (checked by connecting).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# need CMD [apt package]: install a missing tool with apt-get.
need() {
  command -v "$1" >/dev/null 2>&1 && return
  log "$1 is missing; installing ${2:-$1} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${2:-$1}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${2:-$1}" >/dev/null; } ||
    die "cannot install ${2:-$1}"
}

# wait_http URL [seconds]: until URL answers 200.
wait_http() {
  local url=$1 n=${2:-30}
  for _ in $(seq 1 $((n * 10))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ] && return
    sleep 0.1
  done
  die "$url did not answer 200 within ${n}s"
}

# start_redis: a private redis-server (no persistence) on a free port; sets
# REDIS_PORT and REDIS_PID. Private, so that other users of the machine's
# Redis neither disturb the measurement nor see its keys.
start_redis() {
  need redis-server redis-server
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --logfile "$WORK/redis-$REDIS_PORT.log" &
  REDIS_PID=$!
  STARTED_PIDS+=("$REDIS_PID")
  for _ in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "redis-server on port $REDIS_PORT did not start"
}

# start_web NAME BINARY PORT STORE [REDIS_URL [DATABASE_URL]]: the service on
# loopback with the default configuration except the database (default a
# temporary SQLite file), COOKIE_SECURE=false (plain HTTP) and the given
# store; logs to $WORK/NAME.log. Sets WEB_PID.
start_web() {
  local name=$1 bin=$2 port=$3 store=$4 redis_url=${5:-} db_url=${6:-sqlite:$WORK/$1.db}
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    ADDR="127.0.0.1:$port" DATABASE_URL="$db_url" \
    SESSION_STORE="$store" ${redis_url:+REDIS_URL="$redis_url"} \
    REDIS_KEY_PREFIX="$name:" COOKIE_SECURE=false \
    "$bin" >"$WORK/$name.log" 2>&1 &
  WEB_PID=$!
  STARTED_PIDS+=("$WEB_PID")
  wait_http "http://127.0.0.1:$port/healthz"
}

# signup BASE_URL: create the benchmark account (303 to /account).
signup() {
  local code
  code=$(curl -s -o "$WORK/signup.html" -w '%{http_code}' \
    --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" "$1/signup")
  [ "$code" = 303 ] || die "sign-up at $1 answered $code (is \"$PASSWORD\" refused by the password policy?)"
}

# login BASE_URL: prints the Cookie header value of a fresh session.
login() {
  local jar="$WORK/jar" code v
  rm -f "$jar"
  code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" \
    --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" "$1/login")
  [ "$code" = 303 ] || die "login at $1 answered $code"
  v=$(awk '$6 == "sid" { print $7 }' "$jar" | tail -1)
  [ -n "$v" ] || die "login at $1 set no sid cookie"
  printf 'sid=%s' "$v"
}

machine_info() {
  printf 'nproc=%s; CPU %s; kernel %s; %s; wrk %s; redis %s; loadavg %s\n' \
    "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$(uname -r)" "$(go version | awk '{print $3}')" "$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
    "$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
