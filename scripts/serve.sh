#!/usr/bin/env bash
# Create the environment, load the demo layer into the embedded store if it is empty,
# and serve on http://127.0.0.1:${PORT:-5000}.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements.txt
.venv/bin/flask --app app locator load-demo --if-empty
echo "Serving on http://127.0.0.1:${PORT:-5000}"
exec .venv/bin/gunicorn --workers "${WORKERS:-2}" --bind "127.0.0.1:${PORT:-5000}" --access-logfile - app:app
