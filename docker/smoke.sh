#!/usr/bin/env bash
# The deployment files, checked as far as a machine without a Docker engine allows (CI runs
# this after lint): docker/compose.yml validates with an env file made from .env.example, and
# every command of the image's entry point runs here, outside Docker, with production
# settings: check --deploy, collectstatic, migrate, status, web (gunicorn, probed by the
# health check), the worker and beat (their app and schedule), the MLLP listener (one real
# message) and the PKB sandbox (its own certificate, verified over TLS).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

log() { printf '  -- %s\n' "$*"; }
fail() { printf 'smoke: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

PY="${PYTHON:-$ROOT/.venv/bin/python}"
export PATH="$(dirname "$PY"):$PATH"
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until the log file says the process is up, or fails with the log.
wait_for() { # file pattern pid
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; fail "process $3 exited early"; }
    sleep 0.2
  done
  cat "$1" >&2
  fail "timed out waiting for '$2' in $1"
}

# --- an env file made from .env.example, the blanks filled as an operator would ---------------
ENV_FILE="$WORK/rms.env"
random() { "$PY" -c 'import secrets; print(secrets.token_hex(32))'; }
sed -e "s/^SECRET_KEY=$/SECRET_KEY=$(random)/" \
    -e "s/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=$(random)/" \
    -e "s/^PKB_USERNAME=$/PKB_USERNAME=rms-trust/" \
    -e "s/^PKB_PASSWORD=$/PKB_PASSWORD=$(random)/" \
    -e "s/^METRICS_TOKEN=$/METRICS_TOKEN=$(random)/" \
    .env.example > "$ENV_FILE"
if grep -Eq '^[A-Z_]+=$' "$ENV_FILE"; then
  fail ".env.example has blanks this script does not fill: $(grep -E '^[A-Z_]+=$' "$ENV_FILE")"
fi

log "docker-compose config (with and without the sandbox profile)"
RMS_ENV_FILE="$ENV_FILE" docker-compose --env-file "$ENV_FILE" -f docker/compose.yml config -q
RMS_ENV_FILE="$ENV_FILE" docker-compose --env-file "$ENV_FILE" -f docker/compose.yml \
  --profile sandbox config -q
: > "$WORK/empty.env"
if RMS_ENV_FILE="$ENV_FILE" docker-compose --env-file "$WORK/empty.env" -f docker/compose.yml \
  config -q 2> "$WORK/compose.err"; then
  fail "compose accepted a missing POSTGRES_PASSWORD"
fi
grep -q "POSTGRES_PASSWORD" "$WORK/compose.err" || { cat "$WORK/compose.err" >&2; fail "compose"; }

# The same environment the containers get, with local stand-ins for what only exists inside
# the compose network (PostgreSQL and Redis: SQLite and in-process tasks here).
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  export "${line?}"
done < "$ENV_FILE"
export DJANGO_ENV=production
export DATABASE_URL="sqlite:///$WORK/rms.sqlite3"
unset REDIS_URL CELERY_BROKER_URL
export STATIC_ROOT="$WORK/static" MEDIA_ROOT="$WORK/media"
export GUNICORN_WORKERS=2
ENTRY="$ROOT/docker/entrypoint.sh"

log "entrypoint check (check --deploy, warnings fail)"
"$ENTRY" check

log "production leaves devtools out: not in the default image, not installed by the settings"
"$PY" - docker/Dockerfile <<'PYEOF'
import re, sys
stages = re.split(r"(?m)^FROM ", open(sys.argv[1]).read())[1:]
names = [stage.split("\n", 1)[0].split()[-1] for stage in stages]
assert stages[-1].startswith("runtime AS production"), "the default target must be production"
copying = [name for name, stage in zip(names, stages) if re.search(r"(?m)^COPY .*devtools", stage)]
assert copying == ["sandbox"], f"devtools/ is copied by {copying}, not by the sandbox target only"
PYEOF
"$ENTRY" manage help --commands > "$WORK/commands.txt"
grep -qx "mllp_listener" "$WORK/commands.txt" || fail "manage.py lists no commands"
if grep -Eqx "load_demo|load_scale|pkb_sandbox|demo" "$WORK/commands.txt"; then
  fail "production settings install devtools"
fi

log "entrypoint collectstatic"
"$ENTRY" collectstatic --verbosity 0
test -s "$STATIC_ROOT/staticfiles.json" || fail "collectstatic wrote no manifest"

log "entrypoint migrate, then status"
"$ENTRY" migrate --verbosity 0
"$ENTRY" status > "$WORK/status.txt"
grep -q "^Migrations   ok" "$WORK/status.txt" || { cat "$WORK/status.txt"; fail "status"; }

log "entrypoint web (gunicorn), probed by the entrypoint's health check"
WEB_PORT="$(free_port)"
GUNICORN_BIND="127.0.0.1:$WEB_PORT" "$ENTRY" web > "$WORK/web.log" 2>&1 &
PIDS+=("$!")
wait_for "$WORK/web.log" "Booting worker" "${PIDS[-1]}"
for _ in $(seq 1 50); do
  "$ENTRY" healthcheck "http://127.0.0.1:$WEB_PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.2
done
"$ENTRY" healthcheck "http://127.0.0.1:$WEB_PORT/healthz"
"$ENTRY" healthcheck "http://127.0.0.1:$WEB_PORT/readyz"
# /metrics with the token from the env file
"$PY" - "$WEB_PORT" <<'PYEOF'
import os, sys, urllib.request
port = sys.argv[1]
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/metrics",
    headers={
        "Host": os.environ["ALLOWED_HOSTS"].split(",")[0],
        "X-Forwarded-Proto": "https",
        "Authorization": f"Bearer {os.environ['METRICS_TOKEN']}",
    },
)
with urllib.request.urlopen(request, timeout=10) as response:
    body = response.read().decode()
assert response.status == 200 and "rms_database_up 1.0" in body, body[:500]
PYEOF
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" || fail "gunicorn did not stop cleanly on SIGTERM"
"$PY" - "$WORK/web.log" <<'PYEOF'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
assert lines and all("request_id" in line for line in lines), "web log is not JSON lines"
assert any(line["logger"] == "gunicorn.error" for line in lines), "gunicorn's own lines missing"
PYEOF

log "entrypoint worker and beat: the Celery app, its tasks and the beat schedule"
"$ENTRY" worker --help > /dev/null
"$ENTRY" beat --help > /dev/null
"$ENTRY" celery -A rms report > /dev/null
"$ENTRY" python - <<'PYEOF'
import django
django.setup()
from django.conf import settings
from rms.celery import app
app.loader.import_default_modules()
missing = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] not in app.tasks]
assert not missing, f"beat schedules tasks that do not exist: {missing}"
PYEOF

log "entrypoint listener: one HL7 message over MLLP, acknowledged"
MLLP_PORT_LOCAL="$(free_port)"
# The sample's sender (WINPATH^RXX01), from here rather than the example's Trust network.
MLLP_SENDERS="WINPATH^RXX01@127.0.0.1/32" \
  "$ENTRY" listener --host 127.0.0.1 --port "$MLLP_PORT_LOCAL" --allow 127.0.0.1/32 > "$WORK/listener.log" 2>&1 &
PIDS+=("$!")
wait_for "$WORK/listener.log" "MLLP listener on" "${PIDS[-1]}"
"$PY" - "$MLLP_PORT_LOCAL" tests/fixtures/hl7/oru_r01_psa.hl7 <<'PYEOF'
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
    sock.sendall(b"\x0b" + open(path, "rb").read() + b"\x1c\x0d")
    ack = b""
    while not ack.endswith(b"\x1c\x0d"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        ack += chunk
assert b"MSA|A" in ack, ack
PYEOF
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" || fail "the listener did not stop cleanly on SIGTERM"
"$ENTRY" status > "$WORK/status.txt"
grep -q "unmatched 1" "$WORK/status.txt" || { cat "$WORK/status.txt"; fail "message not stored"; }

log "entrypoint sandbox: a certificate of its own, verified over TLS"
SANDBOX_PORT="$(free_port)"
PKB_SANDBOX_TLS_DIR="$WORK/sandbox-tls" PKB_SANDBOX_DATA="$WORK/sandbox/records.json" \
PKB_SANDBOX_BIND=127.0.0.1 PKB_SANDBOX_PORT="$SANDBOX_PORT" \
  "$ENTRY" sandbox > "$WORK/sandbox.log" 2>&1 &
PIDS+=("$!")
wait_for "$WORK/sandbox.log" "PKB sandbox: HL7 endpoint" "${PIDS[-1]}"
"$ENTRY" python - "$SANDBOX_PORT" "$WORK/sandbox-tls/cert.pem" <<'PYEOF'
import os, sys
import django
django.setup()
from pkb_bridge.transport import PkbTransport
port, ca = sys.argv[1], sys.argv[2]
# The transport the worker uses, trusting only the sandbox's certificate (PKB_CA_BUNDLE).
transport = PkbTransport(
    f"https://localhost:{port}/services/hl7",
    os.environ["PKB_USERNAME"],
    os.environ["PKB_PASSWORD"],
    connect_timeout_s=5,
    deadline_s=10,
    ca_bundle=ca,
)
try:
    # A bare MSH gets an ACK (AR, most likely): any ACK proves TLS, the certificate and the
    # credentials; a TransportError (kind tls, http_auth, connect...) fails the smoke test.
    result = transport.send("MSH|^~\\&|RMS|RXX|PKB|PKB|20260101000000||ADT^A28|SMOKE1|P|2.4\r")
    assert "MSA|" in result.ack_text, result.ack_text
finally:
    transport.close()
PYEOF
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" || true

log "deployment smoke test passed"
