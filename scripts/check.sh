#!/usr/bin/env bash
# Every check, the same locally and in CI: lint, formatting, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "check: ruff"
ruff check .
ruff format --check .
echo "check: mypy (strict on pmg_engine)"
mypy pmg_engine config migrations bot
echo "check: pytest"
pytest "$@"
