"""The sticker upscaler: a small CNN that redraws a 64 px RGBA picture at 256 px.

It predicts a residual over bicubic enlargement, in premultiplied RGBA, so transparent pixels
carry no colour and edges against transparency do not fringe (DESIGN.md §5, generator row:
our own generator draws 64 px). A folder holds ``config.json`` and ``model.safetensors``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_ID = "pmg-sticker-upscaler"


@dataclass(frozen=True)
class UpscalerConfig:
    """Shape of the network: ``layers`` 3x3 convs of ``channels`` at the input resolution."""

    scale: int = 4
    channels: int = 32
    layers: int = 4
    input_size: int = 64

    def __post_init__(self) -> None:
        if self.scale < 2:
            raise ValueError(f"scale must be at least 2, got {self.scale!r}")
        if self.channels < 1 or self.layers < 0:
            raise ValueError(
                f"channels must be positive and layers non-negative, got "
                f"channels={self.channels!r}, layers={self.layers!r}"
            )

    def to_json(self) -> dict[str, Any]:
        """Return the config as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpscalerConfig:
        """Build a config from ``config.json``'s object."""
        return cls(
            scale=int(data["scale"]),
            channels=int(data["channels"]),
            layers=int(data["layers"]),
            input_size=int(data.get("input_size", cls.input_size)),
        )


class UpscalerNet(nn.Module):
    """Premultiplied RGBA ``[B, 4, h, w]`` in [0, 1] to ``[B, 4, h*s, w*s]``, rgb <= alpha."""

    def __init__(self, config: UpscalerConfig) -> None:
        super().__init__()
        self.config = config
        width = config.channels
        self.head = nn.Conv2d(4, width, 3, padding=1)
        body: list[nn.Module] = []
        for _ in range(config.layers):
            body += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
        self.body = nn.Sequential(*body)
        self.tail = nn.Conv2d(width, 4 * config.scale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(config.scale)
        # A zero tail makes the untrained net exactly bicubic: training starts at the baseline.
        nn.init.zeros_(self.tail.weight)
        if self.tail.bias is not None:
            nn.init.zeros_(self.tail.bias)

    def forward(self, premultiplied: torch.Tensor) -> torch.Tensor:
        """Return the enlarged picture, clamped to valid premultiplied RGBA."""
        base = nn.functional.interpolate(
            premultiplied, scale_factor=self.config.scale, mode="bicubic", align_corners=False
        )
        features = nn.functional.silu(self.head(premultiplied))
        features = features + self.body(features)
        out = base + self.shuffle(self.tail(features))
        alpha = out[:, 3:].clamp(0.0, 1.0)
        # Premultiplied colour can never exceed its own opacity.
        rgb = torch.minimum(out[:, :3].clamp(min=0.0), alpha)
        return torch.cat([rgb, alpha], dim=1)


def premultiply(rgba: NDArray[np.uint8] | torch.Tensor) -> torch.Tensor:
    """Map straight uint8 RGBA to premultiplied floats ``[B, 4, H, W]`` in [0, 1].

    Numpy arrays are ``[B, H, W, 4]``, as Pillow gives pixels; tensors are ``[B, 4, H, W]``.
    """
    if isinstance(rgba, np.ndarray):
        rgba = torch.from_numpy(np.require(rgba, requirements=["C", "W"])).permute(0, 3, 1, 2)
    values = rgba.float() / 255.0
    return torch.cat([values[:, :3] * values[:, 3:], values[:, 3:]], dim=1)


def unpremultiply(premultiplied: torch.Tensor) -> NDArray[np.uint8]:
    """Map premultiplied floats ``[B, 4, H, W]`` back to straight uint8 RGBA ``[B, H, W, 4]``."""
    values = premultiplied.detach().float().clamp(0.0, 1.0).cpu()
    alpha = values[:, 3:]
    rgb = torch.where(alpha > 0, values[:, :3] / alpha.clamp(min=1e-6), torch.zeros_like(alpha))
    straight = torch.cat([rgb.clamp(0.0, 1.0), alpha], dim=1)
    pixels = (straight * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    pixels[pixels[..., 3] == 0, :3] = 0
    return pixels


class Upscaler:
    """The engine-facing upscaler: PIL picture in, a picture ``scale`` times larger out."""

    def __init__(self, net: UpscalerNet) -> None:
        self.net = net.eval()
        self.model_id = MODEL_ID

    @property
    def scale(self) -> int:
        """How many times larger each side comes out."""
        return self.net.config.scale

    @torch.no_grad()
    def upscale(self, image: Image.Image) -> Image.Image:
        """Return ``image`` enlarged ``scale`` times; RGB stays RGB, anything else is RGBA."""
        opaque = image.mode == "RGB"
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)[None]
        device = next(self.net.parameters()).device
        out = unpremultiply(self.net(premultiply(rgba).to(device)))[0]
        if opaque:
            return Image.fromarray(np.ascontiguousarray(out[..., :3]), "RGB")
        return Image.fromarray(out, "RGBA")


def save_upscaler(net: UpscalerNet, folder: Path, *, half: bool = True) -> None:
    """Write ``config.json`` and ``model.safetensors`` (fp16 unless ``half`` is False)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
    text = json.dumps(net.config.to_json(), indent=2)
    (folder / CONFIG_NAME).write_text(text + "\n", encoding="utf-8")
    for path in (folder / WEIGHTS_NAME, folder / CONFIG_NAME):
        path.chmod(0o644)  # safetensors writes 0600; shipped weights are read by other users


def load_upscaler(path: Path | str, *, device: torch.device | str = "cpu") -> Upscaler:
    """Read an upscaler folder into an fp32 ``Upscaler`` on ``device``."""
    from safetensors.torch import load_file

    folder = Path(path)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"no sticker upscaler at {folder} (missing {name})")
    try:
        config = UpscalerConfig.from_json(json.loads((folder / CONFIG_NAME).read_text("utf-8")))
        net = UpscalerNet(config)
        state = load_file(str(folder / WEIGHTS_NAME))
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as error:  # safetensors and torch raise their own types for a bad file
        raise ValueError(f"the sticker upscaler at {folder} cannot be read: {error}") from error
    return Upscaler(net.to(device).eval())
