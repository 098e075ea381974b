#!/usr/bin/env bash
# Train the whole offline model pack in order, resuming whatever is already done:
# autoencoder -> scorer -> generator UNet (latents and MiniLM outputs are cached on the way)
# -> fp16 export into data/train/export. Run from the repository root, usually in the background:
#
#   setsid nohup pmg_engine/train/run_all.sh > data/train/run_all.log 2>&1 &
#
# Stop it with `kill -- -$(cat data/train/run_all.pgid)`: the running part gets SIGTERM, saves a
# checkpoint and exits; running the script again continues from there. Budgets are steps (which
# survive restarts) capped by minutes per invocation; override them through the environment.
set -euo pipefail

ROOT=${PMG_TRAIN_ROOT:-data/train}
DEVICE=${PMG_TRAIN_DEVICE:-auto}
# bf16 autocast: on this CPU (AMX) it measured 2-4x faster for the autoencoder, ~1.2x for the
# UNet; weights, optimizer and EMA stay fp32.
PRECISION=${PMG_TRAIN_PRECISION:-bf16}
THREADS=${PMG_TRAIN_THREADS:-2}
AE_STEPS=${PMG_AE_STEPS:-3000}
AE_MINUTES=${PMG_AE_MINUTES:-60}
SCORER_STEPS=${PMG_SCORER_STEPS:-3000}
SCORER_MINUTES=${PMG_SCORER_MINUTES:-25}
GEN_STEPS=${PMG_GEN_STEPS:-40000}
GEN_MINUTES=${PMG_GEN_MINUTES:-180}
PYTHON=${PYTHON:-.venv/bin/python}

mkdir -p "$ROOT"
ps -o pgid= $$ | tr -d ' ' > "$ROOT/run_all.pgid"
# Run a frozen copy of the code, so edits to the working tree cannot break a later stage.
SNAPSHOT="$ROOT/code/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$SNAPSHOT"
cp -r pmg_engine "$SNAPSHOT/"
export PYTHONPATH="$SNAPSHOT" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# Other work shares these cores: spinning OpenMP threads then slowed steps up to 40x (measured);
# passive waiting degrades in proportion instead.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
COMMON=(--device "$DEVICE" --precision "$PRECISION" --threads "$THREADS")
train() { "$PYTHON" -m pmg_engine.train.cli "$@"; }

echo "$(date -Is) autoencoder (code $SNAPSHOT)"
train autoencoder "${COMMON[@]}" --max-steps "$AE_STEPS" --minutes "$AE_MINUTES" \
  --batch-size 32 >> "$ROOT/autoencoder.log" 2>&1

echo "$(date -Is) scorer"
train scorer "${COMMON[@]}" --max-steps "$SCORER_STEPS" --minutes "$SCORER_MINUTES" \
  --batch-size 256 >> "$ROOT/scorer.log" 2>&1

echo "$(date -Is) generator"
train generator "${COMMON[@]}" --max-steps "$GEN_STEPS" --minutes "$GEN_MINUTES" \
  --batch-size 64 >> "$ROOT/generator.log" 2>&1

echo "$(date -Is) export"
train export --out "$ROOT/export" >> "$ROOT/export.log" 2>&1
echo "$(date -Is) done"
