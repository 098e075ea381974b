#!/usr/bin/env bash
# The README's test command: set up from nothing, start the services, run every check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
exec scripts/check.sh "$@"
