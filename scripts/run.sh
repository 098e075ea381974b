#!/usr/bin/env bash
# The README's run command: set up from nothing, create the embedded database, prepare the
# offline chat model, then run the main job: the local terminal chat (the Discord bot when a
# token is configured, once the bot lands).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/pmg db upgrade
.venv/bin/pmg models prepare
exec .venv/bin/pmg chat "$@"
