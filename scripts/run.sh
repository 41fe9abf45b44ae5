#!/usr/bin/env bash
# `make run [PORT=N]`: migrate, seed the demo, start the web server and a Celery worker with embedded
# beat; the address is printed once the server answers /healthz. One Ctrl-C stops both.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
PORT=${PORT:-8000}
HOST=127.0.0.1
URL="http://$HOST:$PORT"

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "make run: PORT must be a number from 1 to 65535, not '$PORT'." >&2
  exit 2
fi
# Checked before anything starts, so a taken port is one clear line, not a banner and then a failure.
if ! "$BIN/python" - "$HOST" "$PORT" <<'EOF'
import socket
import sys

with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver binds
    try:
        probe.bind((sys.argv[1], int(sys.argv[2])))
    except OSError:
        sys.exit(1)
EOF
then
  echo "make run: port $PORT on $HOST is already in use (another \`make run\`?)." \
       "Stop that server or choose another port, e.g. make run PORT=$((PORT == 65535 ? 8123 : PORT + 1))" >&2
  exit 1
fi

"$BIN/python" manage.py migrate --noinput || exit 1
# Shown as it runs and kept, so the one-time demo passwords can be repeated under the address.
# (tee to a copy of stderr through cat, not to /dev/stderr: reopening that would overwrite a log file.)
# On first start it also writes `demo-simulated`: 90 days run by the shop simulator, with finished missions and
# their evidence (about a minute), so a newcomer sees the whole loop rather than "no evidence yet".
seeded=$("$BIN/python" manage.py seed_demo --if-empty --simulated-shop | tee >(cat >&2)) || exit 1
# Links in emails and checkout return to this server, unless SITE_URL is set (environment or .env).
if [ -z "${SITE_URL:-}" ] && ! grep -qs '^SITE_URL=' .env; then
  export SITE_URL=$URL
fi

"$BIN/celery" -A autonomax worker --beat -Q webhooks,ai,email,default --concurrency 2 --loglevel INFO &
worker=$!
"$BIN/python" manage.py runserver "$HOST:$PORT" --noreload &
web=$!
trap 'kill -TERM $worker $web 2>/dev/null; wait $worker $web 2>/dev/null' INT TERM EXIT

until "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$URL/healthz" 2>/dev/null; do
  for pid in $web $worker; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "make run: the $([ "$pid" = "$web" ] && echo web server || echo worker) stopped before $URL" \
           "answered; its messages are above." >&2
      exit 1
    fi
  done
  sleep 0.5
done

logins=$(grep "password:" <<<"$seeded")
cat <<EOF

AutonomaX is running: $URL  (dashboard /, admin /admin/, API docs /api/docs/)
${logins:+Demo logins (shown once):
$logins
}Demo users owner, operator, viewer; new passwords: $BIN/python manage.py reset_demo_passwords
Management commands in a second terminal: $BIN/python manage.py run_cycle --company demo
Ctrl-C stops everything.

EOF
# If either process stops, stop the other too.
wait -n $worker $web
