"""``pmg eval models`` end to end with tiny real models: figure lines, grid, JSON, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pmg_engine.eval import eval_group
from pmg_engine.eval._generate import batch_conditioning
from pmg_engine.generators import GeneratorSpec, load_generator
from pmg_engine.models.scorer import ScorerConfig, ScorerModel, save_scorer
from pmg_engine.reference import build_reference_index, minilm_embedder
from tests.generators.dummy import save_tiny_own_model
from tests.reference.synthetic import STYLES

FIGURE = re.compile(r"^[a-z0-9 -]+: \d\.\d\d$")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> dict[str, Path]:
    """A tiny own-layout generator, a tiny scorer and a MiniLM reference index, saved."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_scorer(ScorerModel(ScorerConfig(image_size=32, widths=(8, 16), styles=STYLES)), root / "s")
    build_reference_index(corpus_dir / "manifest.jsonl", root / "r", embed=minilm_embedder())
    return {
        "generator": save_tiny_own_model(root / "g"),
        "scorer": root / "s",
        "reference": root / "r",
    }


def _args(folders: dict[str, Path], corpus_dir: Path, out: Path) -> list[str]:
    return [
        "models",
        *("--generator", str(folders["generator"]), "--scorer", str(folders["scorer"])),
        *("--reference", str(folders["reference"]), "--corpus", str(corpus_dir)),
        *("--prompts", "8", "--distractors", "1", "--steps", "2", "--batch-size", "5"),
        *("--device", "cpu", "--grid", str(out / "grid.png"), "--json-out", str(out / "f.json")),
    ]


def test_prints_each_figure_and_writes_grid_and_json(
    folders: dict[str, Path], corpus_dir: Path, tmp_path: Path
) -> None:
    """Every figure is one `name: 0.00` line; the grid and the JSON of figures are written."""
    result = CliRunner().invoke(eval_group, _args(folders, corpus_dir, tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    figures = [line for line in lines if FIGURE.match(line)]
    names = [line.split(":")[0] for line in figures]
    assert names[:7] == [
        "scorer text-to-image top-1",
        "scorer text-to-image top-5",
        "scorer style accuracy",
        "generator text-to-image top-1",
        "generator text-to-image style control",
        "generator reference-guided top-1",
        "generator reference-guided style control",
    ]
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (8 * 64, 64)  # 8 prompts: one row of the 8-column grid
    data = json.loads((tmp_path / "f.json").read_text())
    assert set(names) == set(data["figures"])
    assert len(data["prompts"]) == 8
    assert data["settings"]["num_inference_steps"] == 2


def test_missing_model_is_one_sentence(
    folders: dict[str, Path], corpus_dir: Path, tmp_path: Path
) -> None:
    """A missing generator folder exits 1 with one sentence naming it."""
    args = _args({**folders, "generator": tmp_path / "absent"}, corpus_dir, tmp_path)
    result = CliRunner().invoke(eval_group, args)
    assert result.exit_code == 1
    assert "no generator at" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "grid.png").exists()


def test_prompts_of_different_lengths_share_one_batch(folders: dict[str, Path]) -> None:
    """Each prompt is encoded alone and zero-padded to the batch's longest, as the engine pads."""
    generator = load_generator(GeneratorSpec(model=str(folders["generator"]), device="cpu"))
    short, long = "cat", "cat dog coffee, " * 8
    batch = batch_conditioning(generator, [short, long])
    alone = batch_conditioning(generator, [short])
    length = alone.sequence_length
    assert batch.sequence_length > length
    torch.testing.assert_close(batch.prompt_embeds[0, :length], alone.prompt_embeds[0])
    assert batch.prompt_embeds[0, length:].abs().sum() == 0
