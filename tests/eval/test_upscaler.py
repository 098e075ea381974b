"""`pmg eval upscaler` and its figures: PSNR, edge sharpness, the side-by-side grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pmg_engine.eval.cli import eval_group
from pmg_engine.eval.upscaler import (
    evaluate_upscaler,
    grid_rows,
    psnr,
    resample,
    sobel_magnitude,
)
from pmg_engine.models.upscaler import save_upscaler
from tests.synthetic_pairs import random_net, synthetic_pairs


def test_psnr_of_a_known_error() -> None:
    """An error of 0.1 everywhere is 20 dB; equal arrays are capped at 100 dB."""
    a = np.zeros((4, 4, 3))
    assert psnr(a + 0.1, a) == pytest.approx(20.0)
    assert psnr(a, a) == 100.0


def test_sobel_of_a_unit_step_is_one() -> None:
    """A sharp black-to-white step has magnitude 1.0 at the step, 0 away from it."""
    gray = np.zeros((8, 8))
    gray[:, 4:] = 1.0
    magnitude = sobel_magnitude(gray)
    assert magnitude[4, 3] == pytest.approx(1.0)
    assert magnitude[4, 0] == 0.0


def test_truth_is_perfect_and_blur_is_less_sharp() -> None:
    """The truth scores sharpness 1.0; bicubic from 64 px is softer and has a finite PSNR."""
    pairs = synthetic_pairs(train=1, heldout=4)

    def truth(image: Image.Image, size: int) -> Image.Image:
        index = next(
            i for i, low in enumerate(pairs.heldout_low) if np.array_equal(low, np.asarray(image))
        )
        return Image.fromarray(pairs.heldout_high[index], "RGBA")

    figures = evaluate_upscaler(
        low=pairs.heldout_low,
        high=pairs.heldout_high,
        methods={"truth": truth, "bicubic": resample(Image.Resampling.BICUBIC)},
    )
    assert figures["truth"]["edge_sharpness"] == pytest.approx(1.0)
    assert figures["truth"]["psnr_premultiplied_db"] == 100.0
    assert figures["bicubic"]["edge_sharpness"] < 0.9
    assert 15.0 < figures["bicubic"]["psnr_on_white_db"] < 100.0


def test_grid_rows_take_each_style_in_turn() -> None:
    """The grid shows one item of every style before a second of any."""
    ids = ["a/1", "a/2", "a/3", "b/1", "c/1", "c/2"]
    assert grid_rows(ids, 4) == [0, 3, 4, 1]


def test_eval_upscaler_prints_the_table_and_writes_grid_and_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command compares bicubic, the sticker resampling and the learned net on the pairs."""
    monkeypatch.chdir(tmp_path)
    synthetic_pairs(train=2, heldout=3).save(tmp_path / "pairs.npz")
    save_upscaler(random_net(), tmp_path / "up")
    args = ["upscaler", "--upscaler", str(tmp_path / "up"), "--pairs", str(tmp_path / "pairs.npz")]
    result = CliRunner().invoke(eval_group, [*args, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "held-out pairs: 3 (64 -> 256 px)" in result.output
    for method in ("bicubic", "lanczos (sticker resampling)", "learned"):
        assert method in result.output
    data = json.loads((tmp_path / "data/eval/eval-upscaler.json").read_text("utf-8"))
    assert set(data["figures"]["learned"]) == {
        "psnr_premultiplied_db",
        "psnr_on_white_db",
        "edge_sharpness",
    }
    with Image.open(tmp_path / "data/eval/upscaler-grid.png") as grid:
        assert grid.size == (3 * 256, 20 + 3 * 256)
    assert not (tmp_path / "docs").exists()


def test_eval_upscaler_without_an_upscaler_says_so(tmp_path: Path) -> None:
    """A missing folder is one sentence, not a traceback."""
    result = CliRunner().invoke(eval_group, ["upscaler", "--upscaler", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no sticker upscaler" in result.output
