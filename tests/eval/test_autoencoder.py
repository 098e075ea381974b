"""The autoencoder figures: colour differences where a sticker is visible, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pmg_engine.corpus import CorpusItem
from pmg_engine.eval import eval_group
from pmg_engine.eval.autoencoder import grid_items, heldout_items, measure
from tests.generators.dummy import tiny_vae


def _sticker(rgb: tuple[int, int, int]) -> torch.Tensor:
    """Two 8 px RGBA tiles: a disc of ``rgb`` on transparent black."""
    tiles = torch.zeros(2, 4, 8, 8, dtype=torch.uint8)
    tiles[:, :3, 2:6, 2:6] = torch.tensor(rgb, dtype=torch.uint8).view(3, 1, 1)
    tiles[:, 3, 2:6, 2:6] = 255
    return tiles


def test_a_perfect_reconstruction_has_no_colour_error() -> None:
    """Identical pixels: CIEDE2000, hue and alpha error are zero."""
    red = _sticker((220, 30, 40))
    figures = measure(red, red.clone())
    assert figures.ciede2000 == 0
    assert figures.hue_error_deg == 0
    assert figures.alpha_l1 == 0
    assert figures.psnr_db > 90


def test_red_drawn_as_green_is_a_large_hue_and_colour_error() -> None:
    """The failure the figures exist for: same lightness structure, another hue."""
    red, green = _sticker((220, 30, 40)), _sticker((30, 160, 40))
    figures = measure(red, green)
    assert figures.hue_error_deg > 90
    assert figures.ciede2000 > 40
    # A slightly darker red is a small error on the same scale.
    assert measure(red, _sticker((200, 30, 40))).ciede2000 < 5


def test_colour_under_transparent_pixels_does_not_count() -> None:
    """What the decoder writes where the sticker is transparent is not a colour error."""
    red = _sticker((220, 30, 40))
    noisy = red.clone()
    noisy[:, :3, 0, 0] = 255
    figures = measure(red, noisy)
    assert figures.ciede2000 == 0
    assert figures.alpha_l1 == 0


def test_shapes_must_match() -> None:
    """Reconstructions of another size are refused with the shapes named."""
    with pytest.raises(ValueError, match="shapes differ"):
        measure(_sticker((1, 2, 3)), torch.zeros(2, 4, 4, 4, dtype=torch.uint8))


def _item(name: str, style: str, colour: str, group: str = "objects") -> CorpusItem:
    return CorpusItem(
        id=f"{style}/{name}",
        concept=name,
        hexcode=name,
        emoji="x",
        label=name,
        caption=name,
        style=style,
        source="test",
        visual_words=(colour, "flat"),
        group=group,
        subgroup="hand-fingers-open" if group == "people-body" else "misc",
        split="test",
        paths={64: f"images/{style}/{name}.png"},
    )


def test_grid_takes_each_colour_from_different_styles_and_skips_flags() -> None:
    """Two items a colour, of two styles; flags never fill the grid; hands stand for skin."""
    items = [
        _item("flag", "a", "red", group="flags"),
        _item("apple", "a", "red"),
        _item("rose", "a", "red"),
        _item("heart", "b", "red"),
        _item("frog", "b", "green"),
        _item("hand", "a", "yellow", group="people-body"),
    ]
    picked = [(colour, item.id) for colour, item in grid_items(items)]
    assert ("red", "a/apple") in picked
    assert ("red", "b/heart") in picked
    assert ("red", "a/flag") not in picked
    assert ("red", "a/rose") not in picked  # a second red of style a: the other style is shown
    assert ("green", "b/frog") in picked
    assert ("skin", "a/hand") in picked


def test_heldout_items_are_the_test_split_only(items: list[CorpusItem]) -> None:
    """Figures are measured on renderings no autoencoder trained on or was selected with."""
    chosen = heldout_items(items, 100)
    assert chosen
    assert {item.split for item in chosen} == {"test"}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so --docs writes there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_command_prints_each_autoencoder_and_writes_a_colour_grid(
    corpus_dir: Path, in_tmp: Path
) -> None:
    """Two autoencoders on the same renderings: a line each, their ratio, a grid row each."""
    tmp_path = in_tmp
    for name, seed in (("old", 0), ("new", 1)):
        vae = tiny_vae(channels=4, seed=seed)
        vae.save_pretrained(str(tmp_path / name))
    result = CliRunner().invoke(
        eval_group,
        [
            "autoencoder",
            *("--vae", f"old={tmp_path / 'old'}", "--vae", f"new={tmp_path / 'new'}"),
            *("--corpus", str(corpus_dir), "--cache", str(tmp_path / "cache")),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("old: PSNR ") for line in lines)
    assert any(line.startswith("new: PSNR ") for line in lines)
    assert any(line.startswith("new vs old: PSNR ") for line in lines)
    data = json.loads((tmp_path / "data/eval/eval-autoencoder.json").read_text())
    assert list(data["figures"]) == ["old", "new"]
    assert data["grid"]["rows"] == ["original", "old", "new"]


def test_command_writes_figures_and_grid_under_docs_when_asked(
    corpus_dir: Path, in_tmp: Path
) -> None:
    """--docs: the grid (original row plus one a model) and the JSON land in docs/samples/."""
    tiny_vae(channels=4).save_pretrained(str(in_tmp / "vae"))
    result = CliRunner().invoke(
        eval_group,
        ["autoencoder", "--vae", f"only={in_tmp / 'vae'}", "--corpus", str(corpus_dir), "--docs"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((in_tmp / "docs/samples/eval-autoencoder.json").read_text())
    assert set(data["figures"]["only"]) == {"psnr_db", "ciede2000", "hue_error_deg", "alpha_l1"}
    assert data["grid"]["rows"] == ["original", "only"]
    with Image.open(in_tmp / "docs/samples/autoencoder-colour-grid.png") as grid:
        assert grid.height == 2 * 2 * 64


def test_a_folder_without_an_autoencoder_is_one_sentence(tmp_path: Path, corpus_dir: Path) -> None:
    """A wrong --vae stops before anything loads, naming the folder."""
    result = CliRunner().invoke(
        eval_group, ["autoencoder", "--vae", str(tmp_path), "--corpus", str(corpus_dir)]
    )
    assert result.exit_code == 2
    assert f"no autoencoder at {tmp_path}" in result.output
