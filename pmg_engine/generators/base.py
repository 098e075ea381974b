"""What a generator is: its spec, its errors, the interface the service depends on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import torch

from pmg_engine.errors import PMGError

if TYPE_CHECKING:
    from PIL import Image

    from pmg_engine.conditioning import Conditioning
    from pmg_engine.generators.text_encoders import TextEncoder

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DTypeName = Literal["auto", "float32", "float16", "bfloat16"]
StepCallback = Callable[[int, int], None]

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


class GeneratorError(PMGError):
    """A generator cannot be loaded or run; the message says what to change."""


class ModelNotAvailableError(GeneratorError, FileNotFoundError):
    """The configured generator model is neither a local folder nor an allowed download."""


class UnsupportedModelError(GeneratorError, ValueError):
    """The model loads, but is not a pipeline family this engine drives."""


@dataclass(frozen=True)
class GeneratorSpec:
    """Which diffusion model to load and where: a hub id or a local diffusers folder."""

    model: str
    device: DeviceName = "auto"
    dtype: DTypeName = "auto"
    allow_download: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a hub id or a local path, got {self.model!r}")
        if self.device not in get_args(DeviceName):
            raise ValueError(f"device must be one of {get_args(DeviceName)}, got {self.device!r}")
        if self.dtype not in get_args(DTypeName):
            raise ValueError(f"dtype must be one of {get_args(DTypeName)}, got {self.dtype!r}")


def resolve_device(name: DeviceName) -> torch.device:
    """Return the torch device for ``name``; ``auto`` means CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GeneratorError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise GeneratorError("device 'mps' was asked for, but this machine has no usable MPS")
    return torch.device(name)


def resolve_dtype(name: DTypeName, device: torch.device) -> torch.dtype:
    """Return the weights' dtype; ``auto`` means float16 on a GPU and float32 on the CPU."""
    if name == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    if name == "float16" and device.type == "cpu":
        # Half precision convolutions on CPU are slow or missing; bfloat16 is the CPU choice.
        raise GeneratorError("dtype 'float16' needs a GPU; use 'float32' or 'bfloat16' on the CPU")
    return _DTYPES[name]


class ImageGenerator(Protocol):
    """The generator interface the service uses; ``DiffusersGenerator`` implements it."""

    @property
    def model_id(self) -> str:
        """Identify the loaded model (hub id or path as configured)."""
        ...

    @property
    def text_encoder(self) -> TextEncoder:
        """The encoder whose space ``prompt_embeds`` live in."""
        ...

    @property
    def native_size(self) -> tuple[int, int]:
        """The ``(width, height)`` the model was trained at."""
        ...

    @property
    def produces_alpha(self) -> bool:
        """Whether images come out RGBA (the own sticker model) rather than RGB."""
        ...

    def generate(
        self,
        conditioning: Conditioning,
        *,
        seeds: Sequence[int],
        num_inference_steps: int,
        guidance_scale: float,
        width: int | None = None,
        height: int | None = None,
        on_step: StepCallback | None = None,
        init_images: Sequence[Image.Image] | None = None,
        strength: float = 0.6,
    ) -> list[Image.Image]:
        """Generate one image per seed in one batched call."""
        ...
