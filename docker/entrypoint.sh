#!/bin/sh
# The image's one entry point: `docker run rms <command> [arguments]`. Each command execs
# its process, so it gets the signals (docker stop sends SIGTERM) and its exit status is the
# container's. Runs outside Docker too (CI's smoke test: docker/smoke.sh), from the checkout
# it lives in, with the python on the PATH.
#
#   web          gunicorn serving rms.wsgi on :8000 (docker/gunicorn_conf.py)
#   worker       the Celery worker (PKB delivery, invitations, monitoring)
#   beat         Celery beat: the PKB sweeper and the overdue scan (run exactly one)
#   listener     the MLLP listener on :2575; extra arguments are passed on (--certfile ...)
#   migrate      apply database migrations (run before starting a new release)
#   collectstatic  gather static files into STATIC_ROOT (done when the image is built)
#   check        Django's deployment checks; fails on any warning
#   status       manage.py rms_status: readiness and the state of the queues
#   sandbox      the PKB sandbox over HTTPS with a self-signed certificate (trials only; the
#                image's sandbox target, which ships devtools/)
#   healthcheck  exit 0 when the web process answers /healthz (the compose health check)
#   manage       any manage.py command: `manage createsuperuser`
#   anything else is run as given: `bash`, `python -c ...`
set -eu

APP_DIR="${APP_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$APP_DIR"
export PYTHONPATH="$APP_DIR${PYTHONPATH:+:$PYTHONPATH}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-rms.settings}"
PYTHON="${PYTHON:-python}"
LOG_LEVEL="${LOG_LEVEL:-INFO}"

command="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
  web)
    exec gunicorn --config "$APP_DIR/docker/gunicorn_conf.py" rms.wsgi:application "$@"
    ;;
  worker)
    exec celery -A rms worker --loglevel "$LOG_LEVEL" \
      --concurrency "${CELERY_CONCURRENCY:-2}" "$@"
    ;;
  beat)
    # The schedule file only remembers when each job last ran: losing it is harmless.
    exec celery -A rms beat --loglevel "$LOG_LEVEL" \
      --schedule "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" "$@"
    ;;
  listener)
    exec "$PYTHON" manage.py mllp_listener --host 0.0.0.0 --port "${MLLP_PORT:-2575}" "$@"
    ;;
  migrate)
    exec "$PYTHON" manage.py migrate --noinput "$@"
    ;;
  collectstatic)
    exec "$PYTHON" manage.py collectstatic --noinput --verbosity 1 "$@"
    ;;
  check)
    exec "$PYTHON" manage.py check --deploy --fail-level WARNING "$@"
    ;;
  status)
    exec "$PYTHON" manage.py rms_status "$@"
    ;;
  sandbox)
    # The sandbox lives in devtools/, which the production image does not ship.
    if [ ! -d "$APP_DIR/devtools" ]; then
      echo "sandbox: this image has no devtools/; build the sandbox target" \
        "(docker build -f docker/Dockerfile --target sandbox .)" >&2
      exit 64
    fi
    export RMS_DEVTOOLS=true
    # PKB_URL must be https:// in production, so the sandbox serves TLS with a certificate
    # made on first start; the worker trusts it through PKB_CA_BUNDLE (docs/operations.md).
    tls_dir="${PKB_SANDBOX_TLS_DIR:-/var/lib/rms/sandbox-tls}"
    name="${PKB_SANDBOX_HOSTNAME:-pkb-sandbox}"
    if [ ! -s "$tls_dir/cert.pem" ] || [ ! -s "$tls_dir/key.pem" ]; then
      mkdir -p "$tls_dir"
      (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
        -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" -subj "/CN=$name" \
        -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" 2>/dev/null)
      chmod 644 "$tls_dir/cert.pem"
      echo "PKB sandbox: made a self-signed certificate for $name in $tls_dir" >&2
    fi
    data="${PKB_SANDBOX_DATA:-/var/lib/rms/sandbox/records.json}"
    mkdir -p "$(dirname "$data")"
    exec "$PYTHON" manage.py pkb_sandbox --host "${PKB_SANDBOX_BIND:-0.0.0.0}" \
      --port "${PKB_SANDBOX_PORT:-7443}" \
      --username "${PKB_USERNAME:-sandbox}" --password "${PKB_PASSWORD:-sandbox}" \
      --certfile "$tls_dir/cert.pem" --keyfile "$tls_dir/key.pem" --data "$data" "$@"
    ;;
  healthcheck)
    exec "$PYTHON" -m rms.ops.probe "${1:-http://127.0.0.1:8000/healthz}"
    ;;
  manage)
    exec "$PYTHON" manage.py "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
