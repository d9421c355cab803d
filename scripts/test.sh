#!/usr/bin/env bash
# Set up and run the test suite. Uses DATABASE_URL (default: SQLite) and
# REDIS_URL (default: a private Redis started here). Arguments go to pytest.
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
setup_venv "$ROOT/requirements-dev.txt"
setup_node
trap '[ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null; true' EXIT
start_private_redis
python -m pytest "$@"
