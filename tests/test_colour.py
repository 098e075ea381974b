"""Colour conversions and CIEDE2000 against published reference values."""

from __future__ import annotations

import pytest
import torch

from pmg_engine.colour import ciede2000, hue_error, srgb_to_lab, srgb_to_oklab

# Pairs from Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula:
# implementation notes, supplementary test data and mathematical observations", table 1.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0011), 7.2195),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
]


def test_ciede2000_matches_the_published_pairs() -> None:
    """Every reference pair, hue wrap-around and neutral colours included, to four decimals."""
    first = torch.tensor([p[0] for p in SHARMA_PAIRS])
    second = torch.tensor([p[1] for p in SHARMA_PAIRS])
    expected = torch.tensor([p[2] for p in SHARMA_PAIRS], dtype=torch.float64)
    assert torch.allclose(ciede2000(first, second), expected, atol=1e-4)
    # Symmetric, and zero for a colour against itself.
    assert torch.allclose(ciede2000(second, first), expected, atol=1e-4)
    assert torch.allclose(ciede2000(first, first), torch.zeros(len(first), dtype=torch.float64))


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
        ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),
        ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
        ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ],
)
def test_srgb_to_lab_gives_the_textbook_primaries(
    rgb: tuple[float, float, float], lab: tuple[float, float, float]
) -> None:
    """sRGB primaries, white and black land on their D65 CIELab values."""
    image = torch.tensor(rgb).view(3, 1, 1)
    got = srgb_to_lab(image).view(3)
    assert torch.allclose(got, torch.tensor(lab), atol=0.02)


def test_oklab_is_neutral_on_greys_and_red_is_red() -> None:
    """Greys have no chroma; red has positive a (red-green) and b (yellow-blue) per the paper."""
    greys = torch.linspace(0, 1, 5).view(1, 5).expand(3, 5)
    grey_lab = srgb_to_oklab(greys, dim=0)
    assert grey_lab[1:].abs().max() < 1e-3
    red = srgb_to_oklab(torch.tensor([1.0, 0.0, 0.0]), dim=0)
    assert torch.allclose(red, torch.tensor([0.6280, 0.2249, 0.1258]), atol=2e-3)


def test_oklab_has_finite_gradients_on_black() -> None:
    """The chroma loss backpropagates through pure black pixels without NaN."""
    black = torch.zeros(1, 3, 2, 2, requires_grad=True)
    srgb_to_oklab(black).abs().sum().backward()
    assert black.grad is not None
    assert torch.isfinite(black.grad).all()


def test_hue_error_wraps_around_the_circle() -> None:
    """350 and 10 degrees are 20 apart, never 340."""
    assert hue_error(torch.tensor([350.0, 90.0]), torch.tensor([10.0, 270.0])).tolist() == [
        20.0,
        180.0,
    ]
