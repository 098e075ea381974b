#!/usr/bin/env bash
# Create .venv and install the project with everything it needs, from nothing.
# torch is pinned in the same pip command as the rest, so pip takes the local CPU build and no
# dependency can pull an unpinned (multi-GB CUDA) torch.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. System packages of the corpus builder (`pmg data build`): the Noto Color Emoji font (one of
# the seven styles; its path is NOTO_FONT in pmg_engine/corpus/sources.py), cairo (SVG
# rendering) and npm (fetches the pinned emoji sets). Installed with apt-get where this runs as
# root; elsewhere only named, because `pmg data build` stops without them rather than quietly
# building a different corpus.
need=()
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
ldconfig -p 2>/dev/null | grep 'libcairo\.so\.2' >/dev/null || need+=(libcairo2)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]} with apt-get (the corpus builder's font and tools)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
      echo "setup: apt-get could not install ${need[*]}; pmg data build will say what is missing" >&2
  else
    echo "setup: not installed: ${need[*]}; as root: apt-get install -y ${need[*]}" >&2
  fi
fi

# 2. The virtualenv.
PYTHON=${PYTHON:-python3}
TORCH_PIN=${PMG_TORCH_PIN:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency list or this script changed.
stamp=.venv/.pmg-setup-stamp
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi

echo "setup: installing the project and its dependencies into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "$TORCH_PIN" -e ".[dev]"
echo "$want" > "$stamp"
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
