#!/usr/bin/env bash
# compare.sh - the service next to the Express original and a Go hello world,
# through the peers' comparison rig (shared/peers/load/bench.sh): interleaved
# rounds of W0, W1 and W2, every run checked, medians and paired ratios.
#
#   scripts/compare.sh            (or COMPARE=1 make loadtest)
#
# Systems, all on loopback, sessions in one private redis-server:
#   express-redis          the original: express + express-session + connect-redis
#   express-cluster-redis  the same as a node:cluster of 2 workers
#   express-mem            the original with express-session's MemoryStore
#   project-redis          bin/web, SESSION_STORE=redis, default configuration
#   project-mem            bin/web, SESSION_STORE=memory
#   project-pg-redis       bin/web, SESSION_STORE=redis, accounts in a fresh
#                          PostgreSQL database (the multi-instance set-up)
#   project-redis-benchcost  bin/web built with -tags benchcost: argon2id at
#                          about bcrypt cost 4 (the original's), so that its W2
#                          compares session layers, not password hashes
#   go-scs-redis           shared/peers/go-scs-ref: bare chi + SCS + redisstore
#   go-scs-mem             the same with SCS's memstore
#   hello-go               scripts/hellogo, a bare net/http hello world
#   redis                  redis-benchmark GET against the private Redis
#
# Environment: ROUNDS (3) DURATION (10s) THREADS (2) CONNS (64) WARMUP (3s)
#              PEERS (the peers folder, default ../shared/peers)
#              RESULTS (where results go, default /tmp/sessionlogin-compare-<time>)
#              EXPRESS_MEM (1: include express-mem)
#              PG_URL (a PostgreSQL server where a database may be created,
#              as scheme://user@host:port with no path or query; default
#              postgres://postgres@127.0.0.1:5432; empty, or no server
#              answering, leaves project-pg-redis out)
# Takes about 8 minutes per round with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} THREADS=${THREADS:-2} CONNS=${CONNS:-64} WARMUP=${WARMUP:-3s}
PEERS=${PEERS:-$ROOT/../shared/peers}
RESULTS=${RESULTS:-/tmp/sessionlogin-compare-$(date +%Y%m%d-%H%M%S)}

PG_URL=${PG_URL-postgres://postgres@127.0.0.1:5432}
PG_DB=sessionlogin_compare_$$

WORK=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
drop_pg() { [ -z "$PG_URL" ] || psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; }
trap 'stop_started; drop_pg; rm -rf "$WORK"' EXIT

[ -d "$PEERS/express" ] && [ -d "$PEERS/load" ] && [ -d "$PEERS/go-scs-ref" ] || die "no peers at $PEERS (set PEERS)"
need wrk wrk
need curl curl
need node nodejs
need npm npm
need redis-benchmark redis-tools

# The peers folder is read-only: run copies.
log "preparing copies of the peers in $WORK"
cp -r "$PEERS/express" "$WORK/express"
cp -r "$PEERS/load" "$WORK/load"
chmod -R u+w "$WORK/express" "$WORK/load"
(cd "$WORK/express" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"

log "building bin/web, the benchcost build and hellogo"
go build -o "$WORK/web" ./cmd/web
go build -tags benchcost -o "$WORK/web-benchcost" ./cmd/web
go build -o "$WORK/hellogo" ./scripts/hellogo
cp -r "$PEERS/go-scs-ref" "$WORK/go-scs-ref"
chmod -R u+w "$WORK/go-scs-ref"
(cd "$WORK/go-scs-ref" && go build -o "$WORK/go-scs" .) || die "building go-scs-ref failed"

start_redis
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

TARGETS=()
# express NAME SCRIPT STORE [WORKERS]
express() {
  local name=$1 script=$2 store=$3 workers=${4:-} port pid
  port=$(free_port)
  (cd "$WORK/express" && exec env PORT="$port" STORE="$store" REDIS_URL="$REDIS_URL" NODE_ENV=production \
    ${workers:+WORKERS="$workers"} node "$script" >"$WORK/$name.log" 2>&1) &
  pid=$!
  STARTED_PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/login"
  TARGETS+=("app:$name=http://127.0.0.1:$port" "pid:$name=$pid")
}
# project NAME BINARY STORE [DATABASE_URL]
project() {
  local name=$1 bin=$2 store=$3 db_url=${4:-} port
  port=$(free_port)
  start_web "$name" "$bin" "$port" "$store" "$REDIS_URL/0" ${db_url:+"$db_url"}
  signup "http://127.0.0.1:$port"
  TARGETS+=("app:$name=http://127.0.0.1:$port" "pid:$name=$WEB_PID")
}

log "starting the systems"
express express-redis server.js redis
express express-cluster-redis cluster.js redis 2
[ "${EXPRESS_MEM:-1}" = 1 ] && express express-mem server.js memory
project project-redis "$WORK/web" redis
project project-mem "$WORK/web" memory
project project-redis-benchcost "$WORK/web-benchcost" redis
if [ -n "$PG_URL" ] && ! { command -v psql >/dev/null && psql -q "$PG_URL/postgres" -c 'SELECT 1' >/dev/null 2>&1; }; then
  log "no PostgreSQL answering at $PG_URL (or no psql): project-pg-redis left out"
  PG_URL=
fi
if [ -n "$PG_URL" ]; then
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create $PG_DB at $PG_URL"
  project project-pg-redis "$WORK/web" redis "$PG_URL/$PG_DB?sslmode=disable"
fi
# go-scs NAME STORE: the bare chi + SCS peer
go_scs() {
  local name=$1 store=$2 port
  port=$(free_port)
  ADDR="127.0.0.1:$port" STORE="$store" REDIS_ADDR="127.0.0.1:$REDIS_PORT" "$WORK/go-scs" >"$WORK/$name.log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_http "http://127.0.0.1:$port/login"
  TARGETS+=("app:$name=http://127.0.0.1:$port" "pid:$name=$!")
}
go_scs go-scs-redis redis
go_scs go-scs-mem memory
hello_port=$(free_port)
ADDR="127.0.0.1:$hello_port" "$WORK/hellogo" >"$WORK/hellogo.log" 2>&1 &
STARTED_PIDS+=("$!")
TARGETS+=("pid:hello-go=$!")
wait_http "http://127.0.0.1:$hello_port/"
TARGETS+=("hello:hello-go=http://127.0.0.1:$hello_port" "redis:redis=127.0.0.1:$REDIS_PORT" "pid:redis=$REDIS_PID")

log "machine: $(machine_info)"
log "running bench.sh: $ROUNDS rounds of $DURATION per run; results in $RESULTS"
mkdir -p "$RESULTS"
OUT="$RESULTS" "$WORK/load/bench.sh" "${TARGETS[@]}"

# W2 again with a 10 s wrk timeout. With production argon2id parameters a
# login takes tens of milliseconds of CPU, so 64 connections queue for the
# hash and logins wait longer than wrk's default 2 s timeout: bench.sh
# counts those as socket errors and drops the run. This measures W2 anyway.
log "W2 with --timeout 10s, $ROUNDS interleaved rounds"
W2APPS=()
for t in "${TARGETS[@]}"; do
  case $t in app:express-redis=* | app:express-cluster-redis=* | app:project-* | app:go-scs-*) W2APPS+=("${t#app:}") ;; esac
done
for ((r = 1; r <= ROUNDS; r++)); do
  for a in "${W2APPS[@]}"; do
    name=${a%%=*} url=${a#*=}
    json=$(cd "$WORK/load" && wrk -t"$CONNS" -c"$CONNS" -d"$DURATION" --timeout 10s -s wrk/cycle.lua "$url" |
      sed -n 's/^JSON {/{/p')
    [ -n "$json" ] || { log "  W2 $name: wrk printed no summary"; continue; }
    printf '{"round":%d,"system":"%s","loadavg1":%s,%s\n' "$r" "$name" "$(cut -d' ' -f1 /proc/loadavg)" "${json#\{}" >>"$RESULTS/w2-timeout10s.jsonl"
  done
done
node "$WORK/load/tools/summarize.mjs" "$RESULTS"
node -e '
  const fs = require("fs");
  const runs = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const lines = ["", "## W2 with a 10 s wrk timeout (medians over rounds)", "",
    "| system | req/s | cycles/s | p50 ms | p99 ms | errors (all rounds) | bad steps |", "|---|---:|---:|---:|---:|---:|---:|"];
  for (const sys of [...new Set(runs.map((r) => r.system))]) {
    const rs = runs.filter((r) => r.system === sys);
    const secs = (r) => r.duration_us / 1e6;
    const errs = rs.reduce((a, r) => a + r.err_connect + r.err_read + r.err_write + r.err_timeout + r.err_status, 0);
    const bad = rs.reduce((a, r) => a + r.login_bad + r.account_bad + r.logout_bad, 0);
    lines.push(`| ${sys} | ${Math.round(med(rs.map((r) => r.requests / secs(r))))} | ${Math.round(med(rs.map((r) => r.cycles / secs(r))))} | ` +
      `${(med(rs.map((r) => r.lat_p50_us)) / 1000).toFixed(1)} | ${(med(rs.map((r) => r.lat_p99_us)) / 1000).toFixed(1)} | ${errs} | ${bad} |`);
  }
  const md = lines.join("\n") + "\n";
  fs.appendFileSync(process.argv[2], md);
  process.stdout.write(md);
' "$RESULTS/w2-timeout10s.jsonl" "$RESULTS/summary.md"
cp "$WORK"/*.log "$RESULTS/" 2>/dev/null || true
log "summary: $RESULTS/summary.md"
