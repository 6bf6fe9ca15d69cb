#!/usr/bin/env bash
# Run the whole test suite (creates the environment first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
