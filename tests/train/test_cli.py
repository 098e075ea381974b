"""``pmg train``: a click group with one command per part; budgets, resume and export."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from pmg_engine.train.cli import train_group


def test_train_group_is_named_train_with_every_part() -> None:
    """The main CLI can register one group named train holding all parts."""
    assert isinstance(train_group, click.Group)
    assert train_group.name == "train"
    assert {"autoencoder", "generator", "scorer", "export"} <= set(train_group.commands)


def test_a_budget_is_required(corpus_dir: Path, tmp_path: Path) -> None:
    """Without --minutes or --max-steps the command refuses to start."""
    result = CliRunner().invoke(
        train_group, ["autoencoder", "--corpus", str(corpus_dir), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--minutes or --max-steps" in result.output


def test_autoencoder_command_resumes(corpus_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    """A second invocation continues from the first one's checkpoint."""
    args = [
        "autoencoder",
        "--corpus",
        str(corpus_dir),
        "--out",
        str(tmp_path),
        "--cache",
        str(cache_dir),
        "--preset",
        "tiny",
        "--batch-size",
        "2",
        "--device",
        "cpu",
    ]
    runner = CliRunner()
    first = runner.invoke(train_group, [*args, "--max-steps", "1"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(train_group, [*args, "--max-steps", "2"])
    assert second.exit_code == 0, second.output
    assert "step 2 (+1 " in second.output
    assert (tmp_path / "vae" / "config.json").exists()


def test_export_command_writes_the_pack(
    trained_generator: Path, trained_scorer: Path, tmp_path: Path
) -> None:
    """`pmg train export` writes both parts and reports the pack's size."""
    result = CliRunner().invoke(
        train_group,
        [
            "export",
            "--generator",
            str(trained_generator),
            "--scorer",
            str(trained_scorer),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "MiB" in result.output
    assert (tmp_path / "generator" / "model_index.json").exists()
    assert (tmp_path / "scorer" / "model.safetensors").exists()
