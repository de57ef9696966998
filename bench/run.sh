#!/usr/bin/env bash
# `make bench`: the whole benchmark, from a fresh clone, in well under 15 minutes.
#
# Starts its own stack on this machine only (PostgreSQL database $BENCH_DB, Redis
# database 6, gunicorn on 127.0.0.1:$BENCH_PORT, a Celery worker and Celery beat), runs
# bench/runner.py's phases, writes bench/RESULTS.md, and stops everything it started.
# BENCH_QUICK=1 runs tiny counts (a smoke test, written to bench/out/RESULTS-quick.md);
# BENCH_NOTE="..." is printed in the results (e.g. "the machine was shared with test
# suites"); BENCH_PHASES picks phases; BENCH_KEEP_DB=1 keeps the database for a look.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT=${BENCH_PORT:-8607}
DB=${BENCH_DB:-slotfill_bench}
PG=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
export BENCH_WORKERS=${BENCH_WORKERS:-4}
export BENCH_CELERY_CONCURRENCY=${BENCH_CELERY_CONCURRENCY:-2}
PHASES=${BENCH_PHASES:-machine seed fill contention provider_day webhook expiry scale}
OUT=bench/out

if [ ! -x "$PY" ]; then
    echo "No .venv: run 'make install' first (make bench does)." >&2
    exit 1
fi
# The load generator lives in the bench extra, kept out of the product's dependencies.
"$PY" -c "import locust" 2>/dev/null || "$PY" -m pip install --quiet -e '.[bench]'

mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/*.txt

# The product's production-like settings: DEBUG off, real Redis broker, gunicorn.
export DATABASE_URL="$PG/$DB"
export REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/6}
export DEBUG=false
export SECRET_KEY="bench-only-secret-key-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS=127.0.0.1,localhost
export SECURE_SSL_REDIRECT=false
export SMS_BACKEND=console
export TWILIO_AUTH_TOKEN=bench-auth-token-0123456789abcdef
export TWILIO_FROM_NUMBER=+15005550006
export PUBLIC_BASE_URL="http://127.0.0.1:$PORT"
export BENCH_BASE_URL="http://127.0.0.1:$PORT"
# Offers go out at any hour, and holds are as short as settings allow (60 s) so that
# "hold ends -> next batch" can be measured within the run.
export SMS_SEND_HOURS=00:00-24:00
export OFFER_HOLD_SECONDS=${BENCH_HOLD_SECONDS:-60}
export LOG_LEVEL=warning

PIDS=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP_DB:-0}" != "1" ]; then
        "$PY" -m bench.database drop "$PG" "$DB" || true
    fi
    exit $status
}
trap cleanup EXIT INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "Port $PORT is in use; set BENCH_PORT to a free one." >&2
    exit 1
fi

# The stack it measures needs both servers; say so plainly rather than fail midway.
if ! "$PY" -m clinic.lib.dbcheck "$PG/postgres"; then
    echo "PostgreSQL does not answer at $PG (set BENCH_POSTGRES, or start it)." >&2
    exit 1
fi
if ! "$PY" -c "import redis, os, sys; redis.Redis.from_url(os.environ['REDIS_URL'], socket_connect_timeout=3).ping()" 2>/dev/null; then
    echo "Redis does not answer at $REDIS_URL (set BENCH_REDIS_URL, or start it)." >&2
    exit 1
fi

echo "== fresh database $DB, Redis database ${REDIS_URL##*/}"
"$PY" -m bench.database create "$PG" "$DB"
"$PY" -c "import redis, os; redis.Redis.from_url(os.environ['REDIS_URL']).flushdb()"
"$PY" manage.py migrate --noinput >"$OUT/migrate.log"
"$PY" manage.py collectstatic --noinput >"$OUT/collectstatic.log"

echo "== gunicorn ($BENCH_WORKERS workers) on 127.0.0.1:$PORT, Celery worker and beat"
DJANGO_SETTINGS_MODULE=bench.settings .venv/bin/gunicorn clinic.wsgi:application \
    --bind "127.0.0.1:$PORT" --workers "$BENCH_WORKERS" --backlog 2048 --timeout 120 \
    --log-level warning >"$OUT/gunicorn.log" 2>&1 &
PIDS+=($!)
.venv/bin/celery -A clinic worker --concurrency "$BENCH_CELERY_CONCURRENCY" \
    --hostname "bench@%h" --without-gossip --without-mingle --loglevel warning \
    >"$OUT/celery-worker.log" 2>&1 &
PIDS+=($!)
.venv/bin/celery -A clinic beat --pidfile= --loglevel warning >"$OUT/celery-beat.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 1 100); do
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen('$BENCH_BASE_URL/healthz', timeout=2)" 2>/dev/null; then
        break
    fi
    sleep 0.3
done
"$PY" -c "import urllib.request; urllib.request.urlopen('$BENCH_BASE_URL/healthz', timeout=5)" \
    || { echo "gunicorn did not answer; see $OUT/gunicorn.log" >&2; exit 1; }

SECONDS=0
# shellcheck disable=SC2086
"$PY" -m bench.runner $PHASES
# The offer engine's own ranking benchmark (random data shaped differently from the scale
# phase's), on a database of its own: it truncates whatever it is pointed at.
if [ -f bench/bench_ranking.py ] && [ "${BENCH_QUICK:-0}" != "1" ] && [ "${BENCH_RANKING:-1}" = "1" ]; then
    echo "== bench/bench_ranking.py"
    BENCH_DATABASE_URL="$PG/${DB}_ranking" timeout 300 "$PY" bench/bench_ranking.py --repeat 15 \
        >"$OUT/ranking.txt" 2>&1 || echo "bench_ranking.py failed: see $OUT/ranking.txt"
    "$PY" -m bench.database drop "$PG" "${DB}_ranking" || true
fi
# The reply classifier (no database): writes bench/REPLIES.md.
if [ "${BENCH_QUICK:-0}" != "1" ]; then
    echo "== bench/bench_replies.py"
    "$PY" bench/bench_replies.py >"$OUT/replies.txt" 2>&1 || echo "bench_replies.py failed: see $OUT/replies.txt"
fi
"$PY" -m bench.runner report
echo "== done in ${SECONDS}s"
