#!/usr/bin/env bash
# The README's run command: set up from nothing, create the embedded database, run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/pmg db upgrade
exec .venv/bin/pmg status "$@"
