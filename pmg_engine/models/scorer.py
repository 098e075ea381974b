"""The mini scorer: a small CNN image encoder aligned to MiniLM's sentence space (a mini CLIP),
with a style classifier head. It gives the engine's ``d_t`` / ``d_p`` offline.

A folder holds ``config.json`` and ``model.safetensors``; the text side is the frozen MiniLM
from the wheel, so a text's vector never depends on the scorer release.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch import nn

from pmg_engine.models.minilm import HIDDEN_SIZE, MiniLM

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_ID = "pmg-mini-scorer"


@dataclass(frozen=True)
class ScorerConfig:
    """Shape of the image encoder; ``styles`` names the style head's classes in order."""

    image_size: int = 64
    widths: tuple[int, ...] = (32, 64, 128, 256)
    embed_dim: int = HIDDEN_SIZE
    styles: tuple[str, ...] = ()
    text_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the config as plain JSON values."""
        data = asdict(self)
        data["widths"] = list(self.widths)
        data["styles"] = list(self.styles)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScorerConfig:
        """Build a config from ``config.json``'s object."""
        return cls(
            image_size=int(data["image_size"]),
            widths=tuple(int(w) for w in data["widths"]),
            embed_dim=int(data["embed_dim"]),
            styles=tuple(str(s) for s in data["styles"]),
            text_model=str(data.get("text_model", cls.text_model)),
            extra=dict(data.get("extra", {})),
        )


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.silu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        return nn.functional.silu(h + self.skip(x))


class ScorerModel(nn.Module):
    """CNN over 64-px RGB-on-white images: unit embeddings in MiniLM space and style logits."""

    def __init__(self, config: ScorerConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.GroupNorm(8, widths[0]), nn.SiLU()
        )
        self.blocks = nn.Sequential(
            *(_ResBlock(a, b) for a, b in zip((widths[0], *widths[:-1]), widths, strict=True))
        )
        self.norm = nn.LayerNorm(widths[-1])
        self.project = nn.Linear(widths[-1], config.embed_dim)
        self.style_head = nn.Linear(widths[-1], max(len(config.styles), 1))
        # CLIP's initial temperature 0.07, learnt in log space.
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Return pooled features ``[B, C]`` of pixels ``[B, 3, S, S]`` in [-1, 1]."""
        pooled: torch.Tensor = self.norm(self.blocks(self.stem(pixels)).mean(dim=(2, 3)))
        return pooled

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return unit image embeddings ``[B, D]`` and style logits ``[B, n_styles]``."""
        feats = self.features(pixels)
        embeds = nn.functional.normalize(self.project(feats), dim=-1)
        return embeds, self.style_head(feats)


def images_to_pixels(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """Composite each image on white and return ``[B, 3, size, size]`` in [-1, 1].

    On white because Stable Diffusion's RGB outputs and our RGBA stickers then look alike.
    """
    arrays = []
    for image in images:
        rgba = image.convert("RGBA")
        if rgba.size != (size, size):
            rgba = rgba.resize((size, size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(rgba, dtype=np.uint8))
    return rgba_to_pixels(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2))


def rgba_to_pixels(rgba: torch.Tensor) -> torch.Tensor:
    """Map uint8 (or [0, 1] float) RGBA ``[B, 4, H, W]`` on white to RGB in [-1, 1]."""
    values = rgba.float() / 255.0 if rgba.dtype == torch.uint8 else rgba.float()
    alpha = values[:, 3:4]
    return (values[:, :3] * alpha + (1.0 - alpha)) * 2.0 - 1.0


class MiniScorer:
    """The engine-facing scorer: cosine similarities between images and texts."""

    def __init__(self, *, model: ScorerModel, text_encoder: MiniLM) -> None:
        self.model = model.eval()
        self.text_encoder = text_encoder
        self.model_id = MODEL_ID

    @property
    def styles(self) -> tuple[str, ...]:
        """The style classes of the style head."""
        return self.model.config.styles

    @torch.no_grad()
    def embed_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Return unit image embeddings ``[B, D]``."""
        device = next(self.model.parameters()).device
        pixels = images_to_pixels(images, self.model.config.image_size).to(device)
        embeds: torch.Tensor = self.model(pixels)[0].float().cpu()
        return embeds

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Return unit MiniLM sentence vectors ``[B, D]``."""
        return self.text_encoder.encode_sentences(texts)

    def image_text_similarity(
        self, images: Sequence[Image.Image], texts: Sequence[str]
    ) -> NDArray[np.floating[Any]]:
        """Return cosine similarities in [-1, 1], shape ``[len(images), len(texts)]``."""
        if not images or not texts:
            raise ValueError("images and texts must both be non-empty")
        sims = self.embed_images(images) @ self.embed_texts(texts).T
        return sims.numpy().astype(np.float32)

    def score(
        self, images: Sequence[Image.Image], texts: Sequence[str]
    ) -> NDArray[np.floating[Any]]:
        """Return cosine similarities ``[len(images), len(texts)]`` (alias for the engine)."""
        return self.image_text_similarity(images, texts)

    @torch.no_grad()
    def classify_styles(self, images: Sequence[Image.Image]) -> list[str]:
        """Return the most likely style of each image."""
        device = next(self.model.parameters()).device
        pixels = images_to_pixels(images, self.model.config.image_size).to(device)
        logits = self.model(pixels)[1]
        return [self.styles[int(i)] for i in logits.argmax(dim=-1)]


def save_scorer(model: ScorerModel, folder: Path, *, half: bool = True) -> None:
    """Write ``config.json`` and ``model.safetensors`` (fp16 unless ``half`` is False)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
    text = json.dumps(model.config.to_json(), indent=2, ensure_ascii=False)
    (folder / CONFIG_NAME).write_text(text + "\n", encoding="utf-8")


def load_scorer_model(folder: Path, *, device: torch.device | str = "cpu") -> ScorerModel:
    """Read a scorer folder into an fp32 ``ScorerModel`` on ``device``."""
    from safetensors.torch import load_file

    config = ScorerConfig.from_json(json.loads((folder / CONFIG_NAME).read_text("utf-8")))
    model = ScorerModel(config)
    state = load_file(str(folder / WEIGHTS_NAME))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval()


def load_scorer(
    path: Path | str,
    *,
    device: torch.device | str = "cpu",
    text_encoder: MiniLM | None = None,
) -> MiniScorer:
    """Load a scorer folder; the MiniLM text side comes from the wheel unless one is passed."""
    folder = Path(path)
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"no mini scorer at {folder} (missing {CONFIG_NAME})")
    model = load_scorer_model(folder, device=device)
    return MiniScorer(model=model, text_encoder=text_encoder or MiniLM.load(device=device))
