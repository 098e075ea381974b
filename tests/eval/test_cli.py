"""``pmg eval`` end to end with tiny real models: identity, figures, outputs, comparisons."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pmg_engine.corpus import CorpusItem
from pmg_engine.corpus.fingerprint import corpus_fingerprint
from pmg_engine.eval import eval_group
from pmg_engine.eval._generate import batch_conditioning
from pmg_engine.eval.evalset import load_eval_set
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


def _base(folders: dict[str, Path], corpus_dir: Path, eval_set_path: Path) -> list[str]:
    return [
        "models",
        *("--generator", str(folders["generator"]), "--scorer", str(folders["scorer"])),
        *("--reference", str(folders["reference"]), "--corpus", str(corpus_dir)),
        *("--eval-set", str(eval_set_path), "--steps", "2", "--batch-size", "5"),
        *("--device", "cpu"),
    ]


def _args(folders: dict[str, Path], corpus_dir: Path, eval_set_path: Path, out: Path) -> list[str]:
    outputs = ("--grid", str(out / "grid.png"), "--json-out", str(out / "f.json"))
    return [*_base(folders, corpus_dir, eval_set_path), *outputs]


def test_prints_each_figure_and_writes_grid_and_json(
    folders: dict[str, Path], corpus_dir: Path, eval_set_path: Path, tmp_path: Path
) -> None:
    """The set and corpus come first, then one `name: 0.00` line a figure; grid and JSON saved."""
    result = CliRunner().invoke(eval_group, _args(folders, corpus_dir, eval_set_path, tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("evaluation set: pmg-heldout v1 (")
    assert lines[1].startswith(f"corpus fingerprint: {corpus_fingerprint(corpus_dir)} (the corpus")
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
    assert data["eval_set"]["version"] == 1
    assert data["corpus"]["fingerprint"] == corpus_fingerprint(corpus_dir)


def test_writes_to_data_by_default_and_to_docs_only_when_asked(
    folders: dict[str, Path],
    corpus_dir: Path,
    eval_set_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without flags results go to data/eval/; --docs writes docs/samples/ and nothing else."""
    monkeypatch.chdir(tmp_path)
    args = [*_base(folders, corpus_dir, eval_set_path), "--prompts", "2"]
    plain = CliRunner().invoke(eval_group, args)
    assert plain.exit_code == 0, plain.output
    assert sorted(p.as_posix() for p in tmp_path.rglob("*.*")) == [
        f"{tmp_path}/data/eval/eval-models.json",
        f"{tmp_path}/data/eval/generator-grid.png",
    ]
    docs = CliRunner().invoke(eval_group, [*args, "--docs"])
    assert docs.exit_code == 0, docs.output
    assert (tmp_path / "docs/samples/eval-models.json").is_file()
    assert (tmp_path / "docs/samples/generator-grid.png").is_file()
    both = CliRunner().invoke(eval_group, [*args, "--docs", "--grid", "g.png"])
    assert both.exit_code == 2
    assert "--docs" in both.output


def test_baseline_is_evaluated_in_the_same_run_and_printed_beside(
    folders: dict[str, Path],
    corpus_dir: Path,
    eval_set_path: Path,
    tmp_path: Path,
) -> None:
    """--baseline: one run measures both generators with one set and settings, saves each one's
    grid and JSON, and prints every figure as `old -> new (delta)`."""
    torch.manual_seed(1)
    other = save_tiny_own_model(tmp_path / "other")
    args = [*_args(folders, corpus_dir, eval_set_path, tmp_path), "--prompts", "3"]
    result = CliRunner().invoke(eval_group, [*args, "--baseline", str(other)])
    assert result.exit_code == 0, result.output
    baseline = json.loads((tmp_path / "f-baseline.json").read_text())
    main = json.loads((tmp_path / "f.json").read_text())
    assert baseline["models"]["generator"] == str(other)
    assert main["models"]["generator"] == str(folders["generator"])
    assert baseline["settings"] == main["settings"]
    assert (tmp_path / "grid-baseline.png").is_file()
    assert (tmp_path / "grid.png").is_file()
    lines = result.stdout.splitlines()
    compared = lines[
        lines.index(f"compared: {tmp_path / 'f-baseline.json'} -> {tmp_path / 'f.json'}") + 1 :
    ]
    shown = {line.split(":")[0]: line for line in compared if " -> " in line}
    for name, value in main["figures"].items():
        before = baseline["figures"][name]
        assert shown[name] == f"{name}: {before:.4f} -> {value:.4f} ({value - before:+.4f})"
    refused = CliRunner().invoke(
        eval_group, [*args, "--baseline", str(other), "--compare-to", str(tmp_path / "f.json")]
    )
    assert refused.exit_code == 2


def test_builtin_pack_is_compared_with_the_pack_it_replaced(
    folders: dict[str, Path],
    corpus_dir: Path,
    eval_set_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the builtin models, the previous pack's result shipped beside the generator is
    printed beside the new figures; with other settings it says why it is not."""
    import pmg_engine.runtime as runtime

    assets = tmp_path / "assets"
    shutil.copytree(folders["generator"], assets / "generator")
    shutil.copytree(folders["scorer"], assets / "scorer")
    shutil.copytree(folders["reference"], assets / "reference-index")
    monkeypatch.setattr(runtime, "ASSETS", assets)
    monkeypatch.setattr(runtime, "BUILTIN_GENERATOR", assets / "generator")
    monkeypatch.setattr(runtime, "BUILTIN_SCORER", assets / "scorer")
    args = [
        *("models", "--corpus", str(corpus_dir), "--eval-set", str(eval_set_path)),
        *("--steps", "2", "--batch-size", "5", "--device", "cpu", "--prompts", "2"),
        *("--grid", str(tmp_path / "g.png"), "--json-out", str(tmp_path / "f.json")),
    ]
    first = CliRunner().invoke(eval_group, args)
    assert first.exit_code == 0, first.output
    assert "compared:" not in first.output
    previous = assets / "generator" / "previous-pack-eval.json"
    shutil.copy(tmp_path / "f.json", previous)
    again = CliRunner().invoke(eval_group, args)
    assert again.exit_code == 0, again.output
    assert f"compared: {previous} -> {tmp_path / 'f.json'}" in again.output
    other = CliRunner().invoke(eval_group, [*args, "--steps", "3"])
    assert other.exit_code == 0, other.output
    assert "not compared with the previous pack: the results were measured with different" in (
        other.output
    )


def test_compare_refuses_another_set_version(
    folders: dict[str, Path], corpus_dir: Path, eval_set_path: Path, tmp_path: Path
) -> None:
    """A run compares with an earlier one of its set; another version is refused, before a run."""
    first = CliRunner().invoke(eval_group, _args(folders, corpus_dir, eval_set_path, tmp_path))
    assert first.exit_code == 0, first.output
    earlier = tmp_path / "earlier.json"
    earlier.write_text((tmp_path / "f.json").read_text())
    again = CliRunner().invoke(
        eval_group,
        [*_args(folders, corpus_dir, eval_set_path, tmp_path), "--compare-to", str(earlier)],
    )
    assert again.exit_code == 0, again.output
    assert "scorer style accuracy: " in again.output
    assert "(+0.0000)" in again.output
    other = json.loads(earlier.read_text())
    other["eval_set"]["version"] = 2
    earlier.write_text(json.dumps(other))
    refused = CliRunner().invoke(eval_group, ["compare", str(earlier), str(tmp_path / "f.json")])
    assert refused.exit_code == 1
    assert "different evaluation set versions (2 and 1)" in refused.output
    assert "+0.0000" not in refused.output
    out = tmp_path / "late"
    before = CliRunner().invoke(
        eval_group, [*_args(folders, corpus_dir, eval_set_path, out), "--compare-to", str(earlier)]
    )
    assert before.exit_code == 1
    assert "different evaluation set versions (2 and 1)" in before.output
    assert not out.exists()  # refused before generating anything


def test_corpus_without_a_style_is_refused(
    folders: dict[str, Path],
    corpus_dir: Path,
    eval_set_path: Path,
    tmp_path: Path,
) -> None:
    """A corpus lacking the set's noto renderings stops the run with one sentence."""
    partial = tmp_path / "partial"
    shutil.copytree(corpus_dir, partial)
    lines = (partial / "manifest.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["style"] != "noto"]
    (partial / "manifest.jsonl").write_text("\n".join(kept) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(eval_group, _args(folders, partial, eval_set_path, out))
    assert result.exit_code == 1
    assert "NOT the set's corpus" in result.output
    assert "styles: noto" in result.output
    assert not (out / "f.json").exists()


def test_make_set_writes_a_new_version_once(corpus_dir: Path, tmp_path: Path) -> None:
    """`make-set` writes a loadable set and never overwrites an existing version."""
    out = tmp_path / "set-v2.json"
    args = ["make-set", "--corpus", str(corpus_dir), "--version", "2", "--out", str(out)]
    made = CliRunner().invoke(eval_group, [*args, "--prompts", "8", "--distractors", "1"])
    assert made.exit_code == 0, made.output
    loaded = load_eval_set(out)
    assert (loaded.version, len(loaded.prompts)) == (2, 8)
    assert loaded.made_on_corpus == corpus_fingerprint(corpus_dir)
    again = CliRunner().invoke(eval_group, [*args, "--prompts", "8", "--distractors", "1"])
    assert again.exit_code == 1
    assert "never rewritten" in again.output


def test_make_set_draws_a_tuning_set_from_the_named_split_only(
    corpus_dir: Path, tmp_path: Path, items: list[CorpusItem]
) -> None:
    """--split: prompts come from that split alone; val never mixes with the benchmark splits."""
    out = tmp_path / "tune-v1.json"
    base = ["make-set", "--corpus", str(corpus_dir), "--version", "1", "--distractors", "1"]
    named = ("--split", "style-heldout", "--split", "test", "--name", "t", "--prompts", "4")
    made = CliRunner().invoke(eval_group, [*base, "--out", str(out), *named])
    assert made.exit_code == 0, made.output
    loaded = load_eval_set(out)
    split = {item.id: item.split for item in items}
    assert loaded.name == "t"
    assert {split[prompt.id] for prompt in loaded.prompts} == {"style-heldout", "test"}
    # Drawn from the test split alone, the pool is that split's renderings only.
    alone = CliRunner().invoke(
        eval_group, [*base, "--out", str(tmp_path / "a.json"), "--split", "test"]
    )
    assert alone.exit_code == 1
    assert "held-out renderings of ('test',)" in alone.output
    mixed = CliRunner().invoke(
        eval_group,
        [*base, "--out", str(tmp_path / "m.json"), "--split", "val", "--split", "test"],
    )
    assert mixed.exit_code == 2
    assert "val alone" in mixed.output
    # The synthetic corpus has no val split: one sentence, nothing written.
    none = CliRunner().invoke(
        eval_group, [*base, "--out", str(tmp_path / "v.json"), "--split", "val"]
    )
    assert none.exit_code == 1
    assert "held-out renderings of ('val',)" in none.output
    assert not (tmp_path / "v.json").exists()


def test_missing_model_is_one_sentence(
    folders: dict[str, Path], corpus_dir: Path, eval_set_path: Path, tmp_path: Path
) -> None:
    """A missing generator folder exits 1 with one sentence naming it."""
    args = _args({**folders, "generator": tmp_path / "absent"}, corpus_dir, eval_set_path, tmp_path)
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
