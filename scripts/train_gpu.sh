#!/usr/bin/env bash
# Train the whole offline model pack on a lent GPU machine in one run of about nine minutes
# (one prepared run of at most ~10 minutes), and leave the results in $OUT.
#
# Prepare here, on the machine that has the corpus and the registries:
#   pmg data build && pmg train pack --out .pack          # 64 px corpus + cut-down MiniLM
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp -d .whl diffusers==0.42.1 importlib_metadata==10.2.0 lazy-importer==0.1.0
#   (the GPU image has torch, transformers and the rest; both folders are ignored through
#   .git/info/exclude and carried: 62 MiB with the repository, under the 64 MiB limit)
# Run there (repository root, $OUT set by the device tool):
#   scripts/train_gpu.sh
# Back here: cat the parts, untar, `pmg train export --generator .../generator --scorer ...`.
#
# Autoencoder and scorer train side by side (both are small and leave the GPU mostly idle),
# then the UNet gets the rest of the budget. Each stage stops on its own minute budget and
# saves; whatever happens, the EXIT trap packs what exists into $OUT.
set -uo pipefail

OUT=${OUT:-data/train-gpu-out}
BUDGET_S=${PMG_GPU_BUDGET_S:-500}  # wall clock for everything, results packed included
RESERVE_S=${PMG_GPU_RESERVE_S:-50} # kept for the generator's last samples, export and packing
AE_MINUTES=${PMG_AE_MINUTES:-2.0}
SCORER_MINUTES=${PMG_SCORER_MINUTES:-2.5}
DEVICE=${PMG_TRAIN_DEVICE:-cuda}
PRESET=${PMG_TRAIN_PRESET:-small}
PY=${PYTHON:-python3}
WORK=${PMG_GPU_WORK:-/tmp/pmg-gpu}
PACK=${PMG_TRAIN_PACK:-.pack}
START=$(date +%s)
left() { echo $((BUDGET_S - ($(date +%s) - START))); }

ROOT=$WORK/train
rm -rf "$WORK"
mkdir -p "$OUT" "$ROOT"
exec > >(tee -a "$OUT/train_gpu.log") 2>&1

finish() {
  echo "$(date -Is) packing results ($(left) s of the budget left)"
  mkdir -p "$WORK/result/autoencoder"
  for part in scorer generator; do
    if [ -f "$ROOT/$part/checkpoints/last.pt" ]; then
      "$PY" -m pmg_engine.train.cli slim --part "$ROOT/$part" --out "$WORK/result/$part" ||
        echo "slim $part failed"
    fi
  done
  # The generator folder holds its own copy of the autoencoder; send the original only without it.
  [ -d "$WORK/result/generator/vae" ] || cp -r "$ROOT/autoencoder/vae" "$WORK/result/autoencoder/"
  cp -r "$ROOT"/autoencoder/{samples,eval.jsonl,loss.jsonl} "$WORK/result/autoencoder/" 2>/dev/null
  cp "$ROOT"/*.log "$WORK/result/" 2>/dev/null
  tar -C "$WORK" -cf - result | split -b 15M - "$OUT/result.tar.part-"
  ls -la "$OUT"
}
trap finish EXIT

if [ -d .whl ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" .whl/*.whl || exit 1
  export PYTHONPATH="$WORK/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch, diffusers, transformers; print("torch", torch.__version__, "diffusers", diffusers.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'

train() { "$PY" -m pmg_engine.train.cli "$@"; }
train unpack --pack "$PACK" --out "$WORK" || exit 1
export PMG_MINILM_DIR="$WORK/minilm"
COMMON=(--corpus "$WORK/corpus" --cache "$ROOT/cache" --device "$DEVICE" --precision bf16
  --preset "$PRESET")

echo "$(date -Is) autoencoder and scorer ($(left) s left)"
train autoencoder "${COMMON[@]}" --out "$ROOT/autoencoder" --minutes "$AE_MINUTES" \
  --batch-size 128 --checkpoint-every 1000 > "$ROOT/autoencoder.log" 2>&1 &
AE=$!
train scorer "${COMMON[@]}" --out "$ROOT/scorer" --minutes "$SCORER_MINUTES" \
  --batch-size 512 --checkpoint-every 1000 > "$ROOT/scorer.log" 2>&1 &
SCORER=$!
wait "$AE" || { echo "autoencoder failed:"; tail -20 "$ROOT/autoencoder.log"; exit 1; }
tail -3 "$ROOT/autoencoder.log"

GEN_S=$(($(left) - RESERVE_S))
echo "$(date -Is) generator for $GEN_S s"
timeout --signal=TERM --kill-after=20 $((GEN_S + 40)) \
  "$PY" -m pmg_engine.train.cli generator "${COMMON[@]}" --out "$ROOT/generator" \
  --vae "$ROOT/autoencoder/vae" --minutes "$(awk "BEGIN { print $GEN_S / 60 }")" \
  --batch-size 512 --lr 4e-4 --checkpoint-every 1500 > "$ROOT/generator.log" 2>&1 ||
  { echo "generator failed:"; tail -20 "$ROOT/generator.log"; }
tail -3 "$ROOT/generator.log"
wait "$SCORER" || { echo "scorer failed:"; tail -20 "$ROOT/scorer.log"; }
tail -3 "$ROOT/scorer.log"
echo "$(date -Is) done ($(left) s left)"
