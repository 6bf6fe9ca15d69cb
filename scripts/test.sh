#!/usr/bin/env bash
# The gates and the whole test suite (creates the environment first): ruff check, ruff format
# --check, mypy, the import-linter layer contracts, then pytest on every core (pytest-xdist).
# Extra arguments go to pytest (e.g. ./scripts/test.sh tests/test_api.py -n 0).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
