#!/usr/bin/env bash
# The README's run command: set up from nothing, create the embedded database, prepare the
# offline chat model, then run the main job: the Discord bot when a token is configured,
# otherwise the local terminal chat (`pmg start`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/pmg db upgrade
.venv/bin/pmg models prepare
exec .venv/bin/pmg start
