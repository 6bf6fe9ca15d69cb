#!/usr/bin/env bash
# Create the environment, load the demo layer into the embedded store if it is empty,
# and serve on http://127.0.0.1:${PORT:-5000} (settings: gunicorn.conf.py; WORKERS=2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements.txt
.venv/bin/flask --app app locator load-demo --if-empty
echo "Serving on http://127.0.0.1:${PORT:-5000}"
exec .venv/bin/gunicorn -c gunicorn.conf.py
