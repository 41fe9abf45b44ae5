#!/usr/bin/env bash
# Start the web server and a Celery worker with embedded beat; one Ctrl-C stops both.
set -euo pipefail
BIN=${BIN:-.venv/bin}
"$BIN/celery" -A autonomax worker --beat -Q webhooks,ai,email,default --concurrency 2 --loglevel INFO &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
echo "AutonomaX: http://127.0.0.1:8000  (admin: /admin/, API docs: /api/docs/)"
"$BIN/python" manage.py runserver 127.0.0.1:8000 --noreload
