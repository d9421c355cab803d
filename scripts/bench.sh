#!/usr/bin/env bash
# Run the benchmarks on PostgreSQL and Redis (started when absent). Prints a table
# and writes benchmarks/results.json. Arguments pick parts: ingest api deliver operate
# memory outage peers browser flood erase scrape.
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
setup_venv "$ROOT/requirements-dev.txt"
# What only the benchmarks use (the peers' outbox library); a no-op once installed.
"$PY" -m pip install --quiet --disable-pip-version-check -r "$ROOT/benchmarks/requirements.txt"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/seg_bench}"
psql "${DATABASE_URL%/*}/postgres" -qtAc "SELECT 1 FROM pg_database WHERE datname = '${DATABASE_URL##*/}'" | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE ${DATABASE_URL##*/}"
trap '[ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null; true' EXIT
if [ -z "${REDIS_URL:-}" ] && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export REDIS_URL="redis://127.0.0.1:6379/13"
fi
start_private_redis
export SEG_WEBSITE_ID="${SEG_WEBSITE_ID:-abc8fb18-7559-4324-9921-a4b5015b4a1c}"
export SEG_WRITE_KEYS="bench-write-key" SEG_RATE_LIMIT=0
python manage.py migrate --noinput >/dev/null
python -m benchmarks.run "$@"
