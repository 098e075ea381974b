"""CLIP as the d_t / d_p scorer (PAPER.md §4: ViT-B/32 in the released code)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pmg_engine.scoring.base import ScorerNotFoundError

if TYPE_CHECKING:
    import torch
    from transformers import CLIPModel, CLIPProcessor

DEFAULT_BATCH_SIZE = 32
# Dropping alpha would show whatever colour hides under transparent pixels (black, after
# stickers.clean_alpha) and CLIP would score that as part of the picture; white matches the
# "white background" clip-art that both our prompts and CLIP's training data are full of.
_COMPOSITE_BACKGROUND = (255, 255, 255)
_CONFIGURE_HINT = (
    "Point generator.scorer (PMG_GENERATOR__SCORER) at a folder holding a CLIP model saved with "
    "save_pretrained, or allow downloads with generator.allow_hub_download = true "
    "(PMG_GENERATOR__ALLOW_HUB_DOWNLOAD=true) and a hub id such as openai/clip-vit-base-patch32."
)


class ClipScorer:
    """Cosine similarity between CLIP image and text embeddings."""

    def __init__(
        self,
        model: CLIPModel,
        processor: CLIPProcessor,
        *,
        model_id: str,
        device: torch.device,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Wrap an already loaded model; use :meth:`from_pretrained` to load one."""
        from transformers import CLIPTextConfig

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model_id = model_id
        # Dropout would make the same candidate score differently on each call.
        model.eval()  # type: ignore[no-untyped-call]
        self._model = model
        self._processor = processor
        self._device = device
        self._batch_size = batch_size
        # CLIP's positional table is its context window (77 tokens for the OpenAI models).
        text_config = model.config.text_config
        if not isinstance(text_config, CLIPTextConfig):
            raise TypeError(f"model {model_id!r} has no CLIP text config")
        self._max_text_tokens = int(text_config.max_position_embeddings)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        device: str = "auto",
        dtype: str = "auto",
        allow_download: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> ClipScorer:
        """Load a CLIP model and processor from a local folder or, if allowed, the hub.

        Without ``allow_download`` only local folders and the local Hugging Face cache are read
        (DESIGN.md §5: no model is fetched at run time unless configured).
        """
        import torch
        from transformers import CLIPModel, CLIPProcessor

        # 1. Resolve the source: an existing folder, else a hub id (cache only unless allowed).
        name = os.fspath(name_or_path)
        folder = Path(name).expanduser()
        source = str(folder) if folder.is_dir() else name
        if not folder.is_dir() and _looks_like_path(name):
            raise ScorerNotFoundError(f"No CLIP model folder at {str(folder)!r}. {_CONFIGURE_HINT}")
        # 2. Device and dtype are decided once, here (STYLE.md 6).
        torch_device = _pick_device(device)
        torch_dtype = _pick_dtype(dtype, torch_device)
        # 3. Load; transformers signals a missing model with OSError.
        local_only = not allow_download
        try:
            model = CLIPModel.from_pretrained(
                source, local_files_only=local_only, dtype=torch_dtype
            )
            processor = CLIPProcessor.from_pretrained(source, local_files_only=local_only)
        except OSError as exc:
            raise ScorerNotFoundError(
                f"CLIP model {name!r} {_why_missing(folder, local_only)}. {_CONFIGURE_HINT}"
            ) from exc
        # transformers types Module.to oddly; the nn.Module spelling keeps the model's type.
        model = torch.nn.Module.to(model, torch_device)
        return cls(model, processor, model_id=name, device=torch_device, batch_size=batch_size)

    def image_text_similarity(
        self, images: Sequence[Image.Image], texts: Sequence[str]
    ) -> NDArray[np.float32]:
        """Return cosine similarities, shape ``[len(images), len(texts)]``, in [-1, 1].

        Texts longer than CLIP's context window are truncated to it; CLIP cannot read past it.
        """
        if len(images) == 0:
            raise ValueError("images must hold at least one image, got none")
        if len(texts) == 0:
            raise ValueError("texts must hold at least one text, got none")
        # 1. Embed both sides, batch by batch, normalised to unit length.
        image_features = self._embed_images([_as_rgb(image) for image in images])
        text_features = self._embed_texts(list(texts))
        # 2. Cosine = dot product of unit vectors; clip float error at the ends.
        similarities: NDArray[np.float32] = np.clip(
            image_features @ text_features.T, -1.0, 1.0
        ).astype(np.float32)
        return similarities

    def _embed_images(self, images: list[Image.Image]) -> NDArray[np.float32]:
        import torch

        chunks: list[NDArray[np.float32]] = []
        with torch.inference_mode():
            for start in range(0, len(images), self._batch_size):
                batch = self._processor(
                    images=images[start : start + self._batch_size], return_tensors="pt"
                )
                pixels = batch["pixel_values"].to(self._device, dtype=self._model.dtype)
                features = _pooled(self._model.get_image_features(pixel_values=pixels))
                chunks.append(_unit_rows(features))
        return np.concatenate(chunks)

    def _embed_texts(self, texts: list[str]) -> NDArray[np.float32]:
        import torch

        chunks: list[NDArray[np.float32]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self._batch_size):
                batch = self._processor(
                    text=texts[start : start + self._batch_size],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self._max_text_tokens,
                )
                features = _pooled(
                    self._model.get_text_features(
                        input_ids=batch["input_ids"].to(self._device),
                        attention_mask=batch["attention_mask"].to(self._device),
                    )
                )
                chunks.append(_unit_rows(features))
        return np.concatenate(chunks)


def _why_missing(folder: Path, local_only: bool) -> str:
    if folder.is_dir():
        return "is not a complete CLIP model folder (config, weights and processor files)"
    if local_only:
        return "is neither a local folder nor in the Hugging Face cache"
    return "could not be downloaded"


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else was meant as a folder on disk.
    return os.path.isabs(name) or name.startswith((".", "~")) or "\\" in name or name.count("/") > 1


def _pick_device(device: str) -> torch.device:
    import torch

    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    import torch

    if dtype == "auto":
        # Half precision changes CLIP cosines by ~1e-3, far below the gaps that decide a choice.
        return torch.float16 if device.type == "cuda" else torch.float32
    choices = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in choices:
        raise ValueError(f"dtype must be one of auto, {', '.join(choices)}; got {dtype!r}")
    return choices[dtype]


def _pooled(output: Any) -> torch.Tensor:
    import torch

    # transformers 4 returns the projected embeddings; 5 wraps them as pooler_output.
    if isinstance(output, torch.Tensor):
        return output
    pooled: torch.Tensor = output.pooler_output
    return pooled


def _unit_rows(features: torch.Tensor) -> NDArray[np.float32]:
    rows: NDArray[np.float32] = features.float().cpu().numpy()
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # A zero embedding has no direction; dividing by a tiny norm leaves it at similarity 0.
    unit: NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _as_rgb(image: Image.Image) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise TypeError(f"images must be PIL images, got {type(image).__name__}")
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (*_COMPOSITE_BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
