"""The sticker upscaler's pairs and training: aligned fits, fixed order, a tiny run end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pmg_engine.corpus.manifest import CorpusItem
from pmg_engine.models.upscaler import load_upscaler
from pmg_engine.train.cli import train_group
from pmg_engine.train.upscaler_pairs import Pairs, corpus_pairs, fit_pair, pair_order
from tests.synthetic_pairs import draw_master, synthetic_pairs


def _alpha_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    box = Image.fromarray(pixels[..., 3], "L").getbbox()
    assert box is not None
    return box


def test_pair_target_is_the_input_layout_four_times_larger() -> None:
    """The 256 px target covers exactly the 64 px input's drawing, scaled by 4 (aligned)."""
    pair = fit_pair(draw_master("triangle", (220, 40, 40)))
    assert pair is not None
    low, high = pair
    assert (low.shape, high.shape) == ((64, 64, 4), (256, 256, 4))
    assert [4 * edge for edge in _alpha_box(low)] == list(_alpha_box(high))
    # Box-averaged back to 64 px, the target is close to the input everywhere.
    shrunk = high.astype(np.float64).reshape(64, 4, 64, 4, 4).mean(axis=(1, 3))
    assert np.abs(shrunk[..., 3] - low[..., 3]).mean() < 4.0


def test_a_master_smaller_than_the_target_gives_no_pair() -> None:
    """A 136 px drawing (Noto's one strike) would make an enlarged target: no pair."""
    assert fit_pair(draw_master("circle", (40, 170, 70), px=136)) is None
    assert fit_pair(Image.new("RGBA", (512, 512))) is None


def _item(item_id: str) -> CorpusItem:
    return CorpusItem(
        id=item_id,
        concept=item_id,
        hexcode="0000",
        emoji="",
        label=item_id,
        caption=item_id,
        style="flat",
        source="synthetic",
        visual_words=(),
        group="g",
        subgroup="s",
        split="train",
        paths={64: f"{item_id}.png"},
    )


def test_pair_order_depends_on_ids_only() -> None:
    """Items are drawn in the same order whatever order they are listed in."""
    items = [_item(f"flat/{n}") for n in range(12)]
    first = [item.id for item in pair_order(items)]
    assert first == [item.id for item in pair_order(items[::-1])]
    assert first != [item.id for item in items]


def test_pairs_round_trip_through_one_file(tmp_path: Path) -> None:
    """Saved pairs load back identical, ids included."""
    pairs = synthetic_pairs(train=3, heldout=2)
    pairs.save(tmp_path / "pairs.npz")
    loaded = Pairs.load(tmp_path / "pairs.npz")
    assert loaded.train_ids == pairs.train_ids
    assert loaded.heldout_ids == pairs.heldout_ids
    assert np.array_equal(loaded.train_high, pairs.train_high)
    assert loaded.scale == 4


def test_a_corpus_without_vector_sources_gives_no_pairs(corpus_dir: Path, tmp_path: Path) -> None:
    """Renderings whose sets are not in the sources cache cannot be paired; it says so."""
    with pytest.raises(ValueError, match="no upscaler pairs"):
        corpus_pairs(
            corpus_dir=corpus_dir,
            sources_cache=tmp_path / "sources",
            out_dir=tmp_path,
            train_pairs=4,
            heldout_pairs=1,
        )


def test_train_upscaler_runs_resumes_and_writes_a_loadable_model(tmp_path: Path) -> None:
    """`pmg train upscaler` on a few synthetic pairs trains, resumes, and leaves <out>/model."""
    synthetic_pairs(train=6, heldout=2).save(tmp_path / "pairs.npz")
    args = [
        "upscaler",
        "--pairs",
        str(tmp_path / "pairs.npz"),
        "--out",
        str(tmp_path / "run"),
        "--preset",
        "tiny",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    runner = CliRunner()
    first = runner.invoke(train_group, [*args, "--max-steps", "2"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(train_group, [*args, "--max-steps", "3"])
    assert second.exit_code == 0, second.output
    assert "upscaler: step 3 (+1 " in second.output
    upscaler = load_upscaler(tmp_path / "run" / "model")
    out = upscaler.upscale(Image.new("RGBA", (64, 64), (200, 30, 30, 255)))
    assert out.size == (256, 256)
    card = (tmp_path / "run" / "model" / "training.json").read_text("utf-8")
    assert '"steps": 3' in card
    assert '"heldout_bicubic_psnr"' in card
