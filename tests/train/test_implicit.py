"""Synthetic users, ``pmg train implicit`` and ``pmg eval personalization``, end to end, tiny."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from pmg_engine.corpus.manifest import CorpusItem, write_manifest
from pmg_engine.eval.cli import eval_group
from pmg_engine.implicit import SoftPromptConfig, SoftPromptModule
from pmg_engine.implicit._soft_prompt import load_module
from pmg_engine.implicit.users import GROUPS, LOOKS, build_users
from pmg_engine.train.cli import train_group
from pmg_engine.train.data import load_items
from pmg_engine.train.implicit import keep_best, read_best
from tests.train.conftest import COLOURS, SHAPES, draw_shape

# Real corpus style names (the users' looks refer to them) drawn as the test shapes.
STYLE_DRAWING = {"openmoji-black": "outlined", "twemoji": "flat", "fluent-flat": "flat"}
SUBGROUPS = ("animal-mammal", "food-fruit", "sport")
CORPUS_STYLE_NAMES = ("openmoji", "twemoji", "fluent", "noto", "high contrast")


@pytest.fixture(scope="module")
def style_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus in three real styles, three theme subgroups, concepts in every split."""
    root = tmp_path_factory.mktemp("style-corpus")
    items = []
    concepts = [(s, c) for s in SHAPES for c in COLOURS]
    for n, (shape, colour) in enumerate(concepts):
        concept = f"{colour}-{shape}"
        split = ("train", "train", "val", "test")[n % 4]
        for style, drawing in STYLE_DRAWING.items():
            rel = f"images/{style}/64px/{concept}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            draw_shape(shape, colour, drawing, 64).save(root / rel)
            items.append(
                CorpusItem(
                    id=f"{style}/{concept}",
                    concept=concept,
                    hexcode="0000",
                    emoji="",
                    label=f"{colour} {shape}",
                    caption=f"{colour} {shape}, {shape}",
                    style=style,
                    source="synthetic",
                    visual_words=(colour,),
                    group="shapes",
                    subgroup=SUBGROUPS[n % len(SUBGROUPS)],
                    split=split,
                    paths={64: rel},
                )
            )
    write_manifest(root / "manifest.jsonl", items)
    return root


def _items(corpus: Path) -> list[CorpusItem]:
    return load_items(corpus, ("train", "style-heldout", "val", "test"))


def test_users_are_deterministic_and_split_by_user(style_corpus: Path) -> None:
    """The same ids give the same users; each user's split decides their targets' concepts."""
    items = _items(style_corpus)
    first, second = build_users(items, count=200), build_users(items, count=200)
    assert [u.to_json() for u in first] == [u.to_json() for u in second]
    splits = {u.split for u in first}
    assert splits == {"train", "val", "test"}
    by_id = {i.id: i for i in items}
    for user in first:
        assert all(by_id[t].concept_split == user.split for t in user.targets)
        assert all(by_id[h].style in user.styles for h in user.history_items)
        assert not {by_id[t].concept for t in user.targets} & {
            by_id[h].concept for h in user.history_items
        }


def test_history_describes_the_look_without_style_names(style_corpus: Path) -> None:
    """Chat lines never name a corpus style; held-out users use phrasings training never saw."""
    users = build_users(_items(style_corpus), count=200)
    train_phrases = {p for look in LOOKS.values() for p in look[0]}
    train_phrases |= {p for _, phrases in GROUPS.values() for p in phrases[0]}
    for user in users:
        text = " ".join(user.history).lower()
        assert not any(name in text for name in CORPUS_STYLE_NAMES), text
        said = {line.split('"')[1] for line in user.history if line.startswith("User said")}
        if user.split != "train":
            assert not said & train_phrases


def _train(tmp: Path, corpus: Path, generator: Path, llm: Path, steps: int) -> str:
    result = CliRunner().invoke(
        train_group,
        [
            "implicit",
            "--generator",
            str(generator),
            "--llm",
            str(llm),
            "--corpus",
            str(corpus),
            "--users",
            "40",
            "--max-steps",
            str(steps),
            "--batch-size",
            "2",
            "--checkpoint-every",
            "2",
            "--out",
            str(tmp),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained_module(
    tmp_path_factory: pytest.TempPathFactory,
    style_corpus: Path,
    trained_generator: Path,
    tiny_model_dir: Path,
) -> Path:
    """A soft-prompt module trained 2 steps on the tiny generator and tiny LLM."""
    out = tmp_path_factory.mktemp("implicit")
    _train(out, style_corpus, trained_generator / "pipeline", tiny_model_dir, steps=2)
    return out


def test_train_implicit_exports_a_module_and_resumes(
    trained_module: Path, style_corpus: Path, trained_generator: Path, tiny_model_dir: Path
) -> None:
    """Two steps write module + probe; a bigger budget continues from the checkpoint."""
    module = trained_module / "module"
    assert (module / "soft_prompt.safetensors").is_file()
    assert (module / "style_probe.json").is_file()
    card = json.loads((module / "training.json").read_text())
    assert card["steps"] == 2
    assert card["timesteps"][0] > 0
    # The export is the checkpoint with the lowest val loss, recorded beside it.
    best = json.loads((trained_module / "best" / "best.json").read_text())
    assert card["selected_step"] == best["step"] <= 2
    assert card["selected_val_loss"] == best["val_loss"]
    output = _train(trained_module, style_corpus, trained_generator / "pipeline", tiny_model_dir, 3)
    assert "step 3 (+1" in output
    assert json.loads((module / "training.json").read_text())["steps"] == 3


def _tiny_module(seed: int) -> SoftPromptModule:
    config = SoftPromptConfig(
        llm="tiny", hidden_size=8, num_layers=2, num_kv_heads=1, head_dim=8,
        text_width=4, text_space="tiny-text",
    )  # fmt: skip
    torch.manual_seed(seed)
    return SoftPromptModule(config)


def test_keep_best_keeps_the_lowest_val_loss_of_one_run(tmp_path: Path) -> None:
    """Lower losses replace the kept module, higher ones do not; a restart replaces it."""
    folder = tmp_path / "best"
    first, second, third = _tiny_module(0), _tiny_module(1), _tiny_module(2)
    assert keep_best(folder, 100, {"val_loss": 0.30}, first)
    assert keep_best(folder, 200, {"val_loss": 0.27}, second)
    assert not keep_best(folder, 300, {"val_loss": 0.29}, third)
    assert not keep_best(folder, 400, {}, third)  # no val users: nothing to compare
    assert read_best(folder) == {"step": 200, "val_loss": 0.27}
    kept = load_module(folder).state_dict()
    for name, value in second.state_dict().items():
        torch.testing.assert_close(kept[name], value.half().float())
    # A run started again from scratch checkpoints at an earlier step: its module replaces it.
    assert keep_best(folder, 100, {"val_loss": 0.31}, third)
    assert read_best(folder) == {"step": 100, "val_loss": 0.31}


def test_only_the_module_receives_gradients(
    style_corpus: Path, trained_generator: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The loss backpropagates into prefix, tokens and mapping; generator and LLM stay frozen."""
    from pmg_engine.generators import GeneratorSpec, load_generator
    from pmg_engine.implicit import HistoryLLM
    from pmg_engine.train.implicit import ImplicitTask, synthetic_training_users

    users = build_users(_items(style_corpus), count=20, splits=("train",))[:3]
    task = ImplicitTask(
        generator=load_generator(
            GeneratorSpec(model=str(trained_generator / "pipeline"), device="cpu")
        ),
        llm=HistoryLLM.from_pretrained(tiny_model_dir),
        users=synthetic_training_users(style_corpus, users),
        llm_name="tiny",
        out_dir=tmp_path,
        negative_weight=0.5,
    )
    task.module.train()
    loss = task.loss(2, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.isfinite(loss)
    loss.backward()  # type: ignore[no-untyped-call]
    assert all(p.grad is not None for p in task.module.parameters())
    assert all(p.grad is None for p in task.unet.parameters())
    assert all(p.grad is None for p in task.llm.model.parameters())


def test_eval_personalization_reports_every_method(
    trained_module: Path,
    style_corpus: Path,
    trained_generator: Path,
    trained_scorer: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    """A tiny run prints the JSON of all methods (at the guidance asked) and writes the files."""
    result = CliRunner().invoke(
        eval_group,
        [
            "personalization",
            "--generator",
            str(trained_generator / "pipeline"),
            "--scorer",
            str(trained_scorer / "model"),
            "--implicit",
            str(trained_module / "module"),
            "--llm",
            str(tiny_model_dir),
            "--corpus",
            str(style_corpus),
            "--count",
            "2",
            "--steps",
            "2",
            "--guidance-scale",
            "4",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert data["users"] == 2
    assert any("guidance 4.0" in note for note in data["notes"])
    assert set(data["methods"]) == {
        "none",
        "keywords",
        "implicit-pooled",
        "implicit-trained",
        "pmg",
        "pmg-repeat",
    }
    for figures in data["methods"].values():
        assert {"style_match", "history_similarity", "accuracy"} <= set(figures)
        assert 0 <= figures["style_match"] <= 1
    assert [row["weight"] for row in data["sweep"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert any("LPIPS: not reported" in note for note in data["notes"])
    for name in ("personalization.md", "figures.csv", "personalization-sweep.png"):
        assert (tmp_path / name).is_file()


def test_eval_users_file_with_an_unknown_style_is_one_sentence(
    style_corpus: Path, tmp_path: Path
) -> None:
    """A --users line naming a style the corpus lacks is refused before any model loads."""
    users = tmp_path / "users.jsonl"
    users.write_text(
        json.dumps(
            {"user": "ada", "history": ["I love cats"], "target": "a cat", "expect_styles": ["x"]}
        )
        + "\n"
    )
    result = CliRunner().invoke(
        eval_group,
        ["personalization", "--users", str(users), "--corpus", str(style_corpus)],
    )
    assert result.exit_code == 1
    assert "line 1" in result.output
    assert "unknown: ['x']" in result.output
