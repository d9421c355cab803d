#!/usr/bin/env bash
# Set up and run the product: migrations, the web app, a Celery worker and beat.
# Starts a private Redis when REDIS_URL is unset, and the local Seg sandbox when
# SEG_TRACKER_URL is unset. Ctrl-C stops everything it started.
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
setup_venv "$ROOT/requirements.txt"
setup_node

pids=()
cleanup() {
  rm -f "$RUN_DIR/env"
  for pid in "${pids[@]}" ${REDIS_PID:-}; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_private_redis
export DEBUG="${DEBUG:-1}"
export SEG_WRITE_KEYS="${SEG_WRITE_KEYS:-dev-write-key}"
export SEG_BROWSER_WRITE_KEYS="${SEG_BROWSER_WRITE_KEYS:-dev-browser-key}"
if [ -z "${SECRET_KEY:-}" ]; then
  [ -f "$RUN_DIR/secret_key" ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$RUN_DIR/secret_key"
  SECRET_KEY="$(cat "$RUN_DIR/secret_key")"; export SECRET_KEY
fi
if [ -z "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # Every process counts in one directory, emptied at each start; /metrics adds them up.
  export PROMETHEUS_MULTIPROC_DIR="$RUN_DIR/prometheus"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
if [ -z "${SEG_TRACKER_URL:-}" ]; then
  sandbox_port="${SEG_SANDBOX_PORT:-8765}"
  "$PY" manage.py seg_sandbox --port "$sandbox_port" & pids+=($!)
  wait_for_port "$sandbox_port" "The Seg sandbox"
  export SEG_TRACKER_URL="http://127.0.0.1:$sandbox_port"
  export SEG_WEBSITE_ID="${SEG_WEBSITE_ID:-00000000-0000-4000-8000-00000000cafe}"
  echo "SEG SANDBOX: deliveries go to $SEG_TRACKER_URL, not to Seg. Set SEG_TRACKER_URL for real delivery."
fi
# What a second terminal sources to run manage.py beside the demo (README,
# "Operating it"): the virtualenv and every setting this run chose. It holds
# SECRET_KEY, so only its owner reads it; it goes when the run stops.
(
  umask 077
  rm -f "$RUN_DIR/env"
  {
    printf 'export PATH=%q:"$PATH" VIRTUAL_ENV=%q\n' "$VENV/bin" "$VENV"
    for name in $(compgen -e | grep -E '^(SEG_[A-Z_]+|DATABASE_[A-Z_]+|REDIS_URL|DEBUG|SECRET_KEY|ALLOWED_HOSTS|CSRF_TRUSTED_ORIGINS)$'); do
      printf 'export %s=%q\n' "$name" "${!name}"
    done
  } > "$RUN_DIR/env"
)
"$PY" manage.py migrate --noinput
admin_password="${ADMIN_PASSWORD:-admin}"
"$PY" manage.py shell -c "
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(is_superuser=True).exists():
    User.objects.create_superuser('admin', 'admin@example.com', '$admin_password')
    print('Created the superuser admin.')
if not User.objects.filter(username='ann').exists():
    User.objects.create_user('ann', 'ann@example.com', 'ann', first_name='Ann', last_name='Smith')
    print('Created the demo customer ann (password ann).')
"
"$PY" manage.py check --deploy --fail-level ERROR >/dev/null 2>&1 || "$PY" manage.py check

celery -A segproject worker --loglevel INFO --concurrency "${SEG_WORKERS:-4}" -Q seg,seg_browser & pids+=($!)
celery -A segproject beat --loglevel INFO --schedule "$RUN_DIR/celerybeat-schedule" & pids+=($!)
port="${PORT:-8000}"
# The recommended deployment (README, "Deploying"): gunicorn with gunicorn.conf.py.
"$PY" -m gunicorn -c gunicorn.conf.py --bind "127.0.0.1:$port" & pids+=($!)
wait_for_port "$port" "The web app"
cat <<MSG

  The shop:       http://127.0.0.1:$port/   (demo customer ann, password ann)
  The admin:      http://127.0.0.1:$port/admin/   (user admin, password $admin_password)
  Segment API:    http://127.0.0.1:$port/seg/v1/batch   (write key: ${SEG_WRITE_KEYS%%,*})
  analytics.js:   http://127.0.0.1:$port/seg   (its CDN; browser key: ${SEG_BROWSER_WRITE_KEYS%%,*})
  Seg tracker:    $SEG_TRACKER_URL
  Another terminal, for manage.py beside it:   . .run/env
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
