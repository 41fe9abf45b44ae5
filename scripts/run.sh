#!/usr/bin/env bash
# Start the web server and a Celery worker with embedded beat; one Ctrl-C stops both.
set -uo pipefail
BIN=${BIN:-.venv/bin}
"$BIN/celery" -A autonomax worker --beat -Q webhooks,ai,email,default --concurrency 2 --loglevel INFO &
worker=$!
"$BIN/python" manage.py runserver 127.0.0.1:8000 --noreload &
web=$!
trap 'kill -TERM $worker $web 2>/dev/null; wait $worker $web 2>/dev/null' INT TERM EXIT
echo "AutonomaX: http://127.0.0.1:8000  (admin: /admin/, API docs: /api/docs/). Ctrl-C stops everything."
# If either process stops, stop the other too.
wait -n $worker $web
