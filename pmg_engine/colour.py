"""Colour spaces and colour differences, in torch, for the autoencoder's loss and its figures.

Channels come first (``[..., 3, H, W]`` or ``[3, ...]`` after ``movedim``): every function takes
sRGB in [0, 1] with the colour on dim ``dim`` and returns the same layout.

- OKLab (Ottosson 2020) is what the autoencoder's chroma loss reads: nearly perceptually uniform,
  smooth everywhere, cheap.
- CIELab (D65) and CIEDE2000 (Sharma, Wu and Dalal 2005) are what its figures report: the
  standard colour difference, about 1 at a just noticeable difference.
"""

from __future__ import annotations

import torch

# sRGB (D65) -> XYZ, IEC 61966-2-1.
_SRGB_TO_XYZ = torch.tensor(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
# Linear sRGB -> LMS and LMS' -> OKLab (Ottosson's published matrices).
_LINEAR_TO_LMS = torch.tensor(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_LMS_TO_OKLAB = torch.tensor(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve of values in [0, 1]."""
    rgb = rgb.clamp(0, 1)
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055).pow(2.4))


def _apply(matrix: torch.Tensor, values: torch.Tensor, dim: int) -> torch.Tensor:
    moved = values.movedim(dim, -1)
    out = moved @ matrix.to(moved.dtype).to(moved.device).T
    return out.movedim(-1, dim)


def _signed_cbrt(values: torch.Tensor) -> torch.Tensor:
    # The cube root's slope is infinite at 0: a small floor keeps gradients finite on black.
    return values.sign() * values.abs().clamp(min=1e-6).pow(1 / 3)


def srgb_to_oklab(rgb: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Return OKLab (L in [0, 1], a and b about ±0.3) of sRGB values in [0, 1]."""
    lms = _apply(_LINEAR_TO_LMS, srgb_to_linear(rgb), dim)
    return _apply(_LMS_TO_OKLAB, _signed_cbrt(lms), dim)


def srgb_to_lab(rgb: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Return CIELab (D65; L in [0, 100]) of sRGB values in [0, 1]."""
    xyz = _apply(_SRGB_TO_XYZ, srgb_to_linear(rgb), dim)
    shape = [1] * xyz.dim()
    shape[dim] = 3
    xyz = xyz / _D65_WHITE.to(xyz.dtype).to(xyz.device).view(shape)
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp(min=1e-12).pow(1 / 3), xyz / (3 * delta**2) + 4 / 29)
    fx, fy, fz = f.unbind(dim)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim)


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Return the CIEDE2000 difference of two CIELab tensors (kL = kC = kH = 1)."""
    lab1, lab2 = lab1.double(), lab2.double()
    l1, a1, b1 = lab1.unbind(dim)
    l2, a2, b2 = lab2.unbind(dim)
    c_mean = (torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2
    g = 0.5 * (1 - torch.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.rad2deg(torch.atan2(b1, a1p)) % 360
    h2p = torch.rad2deg(torch.atan2(b2, a2p)) % 360
    # Hue is undefined for a neutral colour: the formula then takes 0 for its difference.
    chroma_zero = (c1p * c2p) == 0
    dlp = l2 - l1
    dcp = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(chroma_zero, torch.zeros_like(dh), dh)
    dhp = 2 * torch.sqrt(c1p * c2p) * torch.sin(torch.deg2rad(dh) / 2)
    lp_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = torch.where(
        (h1p - h2p).abs() <= 180,
        h_sum / 2,
        torch.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
    )
    h_mean = torch.where(chroma_zero, h_sum, h_mean)
    t = (
        1
        - 0.17 * torch.cos(torch.deg2rad(h_mean - 30))
        + 0.24 * torch.cos(torch.deg2rad(2 * h_mean))
        + 0.32 * torch.cos(torch.deg2rad(3 * h_mean + 6))
        - 0.20 * torch.cos(torch.deg2rad(4 * h_mean - 63))
    )
    d_theta = 30 * torch.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * torch.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (lp_mean - 50) ** 2 / torch.sqrt(20 + (lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -torch.sin(torch.deg2rad(2 * d_theta)) * r_c
    return torch.sqrt(
        (dlp / s_l) ** 2 + (dcp / s_c) ** 2 + (dhp / s_h) ** 2 + r_t * (dcp / s_c) * (dhp / s_h)
    )


def hue_degrees(lab: torch.Tensor, dim: int = -3) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the hue angle in degrees and the chroma of CIELab values."""
    _, a, b = lab.unbind(dim)
    return torch.rad2deg(torch.atan2(b, a)) % 360, torch.hypot(a, b)


def hue_error(hue1: torch.Tensor, hue2: torch.Tensor) -> torch.Tensor:
    """Return the absolute angular difference of two hue tensors in degrees (0-180)."""
    diff = (hue1 - hue2).abs() % 360
    return torch.minimum(diff, 360 - diff)


__all__ = [
    "ciede2000",
    "hue_degrees",
    "hue_error",
    "srgb_to_lab",
    "srgb_to_linear",
    "srgb_to_oklab",
]
