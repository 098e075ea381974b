"""The sticker upscaler network and its engine-facing wrapper, with tiny random weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmg_engine.models.upscaler import (
    Upscaler,
    UpscalerConfig,
    UpscalerNet,
    load_upscaler,
    premultiply,
    save_upscaler,
    unpremultiply,
)
from tests.synthetic_pairs import pair_of, random_net, random_upscaler


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Run the tiny nets on one thread: on busy shared cores more threads only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_net_enlarges_four_times_to_valid_premultiplied_rgba() -> None:
    """Output is 4x per side, in [0, 1], and no colour exceeds its own opacity."""
    net = random_net()
    x = torch.rand(2, 4, 16, 12)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 4, 64, 48)
    assert float(y.min()) >= 0.0
    assert float(y.max()) <= 1.0
    assert bool((y[:, :3] <= y[:, 3:] + 1e-7).all())


def test_untrained_net_is_bicubic() -> None:
    """A fresh net's zero tail makes it exactly bicubic enlargement (clamped)."""
    net = UpscalerNet(UpscalerConfig(channels=4, layers=1)).eval()
    low, _ = pair_of("circle", (220, 40, 40))
    x = premultiply(low[None])
    with torch.no_grad():
        y = net(x)
    bicubic = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic").clamp(0, 1)
    alpha = bicubic[:, 3:]
    expected = torch.cat([torch.minimum(bicubic[:, :3], alpha), alpha], dim=1)
    assert torch.allclose(y, expected, atol=1e-6)


def test_hidden_colour_under_transparency_changes_nothing() -> None:
    """Whatever RGB a fully transparent pixel holds, the enlarged picture is the same."""
    upscaler = random_upscaler()
    low, _ = pair_of("star", (40, 170, 70))
    noisy = low.copy()
    clear = noisy[..., 3] == 0
    assert clear.any()
    noisy[clear, :3] = np.random.default_rng(0).integers(0, 256, (int(clear.sum()), 3))
    a = np.asarray(upscaler.upscale(Image.fromarray(low, "RGBA")))
    b = np.asarray(upscaler.upscale(Image.fromarray(noisy, "RGBA")))
    assert np.array_equal(a, b)
    assert (a[a[..., 3] == 0, :3] == 0).all()


def test_upscale_keeps_the_mode_and_mutates_nothing() -> None:
    """RGBA stays RGBA, RGB stays RGB, 4x larger; calls repeat exactly and leave the weights."""
    upscaler = random_upscaler(seed=3)
    before = {k: v.clone() for k, v in upscaler.net.state_dict().items()}
    rgba = Image.fromarray(pair_of("ring", (60, 90, 220))[0], "RGBA")
    first = upscaler.upscale(rgba)
    assert (first.mode, first.size) == ("RGBA", (256, 256))
    assert np.array_equal(np.asarray(first), np.asarray(upscaler.upscale(rgba)))
    rgb = upscaler.upscale(Image.new("RGB", (20, 10), (10, 200, 30)))
    assert (rgb.mode, rgb.size) == ("RGB", (80, 40))
    after = upscaler.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_premultiply_round_trip_is_exact_for_opaque_pixels() -> None:
    """Opaque colours survive premultiply then unpremultiply unchanged."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (1, 8, 8, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    assert np.array_equal(unpremultiply(premultiply(pixels)), pixels)


def test_saved_folder_loads_as_fp32_with_close_outputs(tmp_path: Path) -> None:
    """A saved fp16 folder loads into fp32 weights that give nearly the same picture."""
    net = random_net(seed=5)
    save_upscaler(net, tmp_path / "up")
    loaded = load_upscaler(tmp_path / "up")
    assert isinstance(loaded, Upscaler)
    assert loaded.scale == 4
    assert all(p.dtype == torch.float32 for p in loaded.net.parameters())
    x = premultiply(pair_of("square", (240, 200, 30))[0][None])
    with torch.no_grad():
        assert torch.allclose(loaded.net(x), net(x), atol=2e-2)


def test_missing_or_broken_folder_says_so(tmp_path: Path) -> None:
    """No folder is a FileNotFoundError; an unreadable weights file a ValueError naming it."""
    with pytest.raises(FileNotFoundError, match="no sticker upscaler"):
        load_upscaler(tmp_path / "nowhere")
    save_upscaler(random_net(), tmp_path / "up")
    (tmp_path / "up" / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="cannot be read"):
        load_upscaler(tmp_path / "up")


def test_config_refuses_bad_shapes() -> None:
    """A scale below 2 or no channels is refused with the values shown."""
    with pytest.raises(ValueError, match="scale"):
        UpscalerConfig(scale=1)
    with pytest.raises(ValueError, match="channels=0"):
        UpscalerConfig(channels=0)
