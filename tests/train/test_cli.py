"""``pmg train``: a click group with one command per part; budgets, resume and export."""

from __future__ import annotations

from pathlib import Path

import click
import torch
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


def test_warmup_and_ema_decay_reach_the_loop(
    corpus_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """--warmup-steps and --ema-decay override the part's defaults (recorded in the checkpoint)."""
    args = [
        *("autoencoder", "--corpus", str(corpus_dir), "--out", str(tmp_path)),
        *("--cache", str(cache_dir), "--preset", "tiny", "--batch-size", "2", "--device", "cpu"),
        *("--max-steps", "1", "--warmup-steps", "0", "--ema-decay", "0.9"),
    ]
    result = CliRunner().invoke(train_group, args)
    assert result.exit_code == 0, result.output
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["options"]["warmup_steps"] == "0"
    assert state["options"]["ema_decay"] == "0.9"


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


def test_slim_parts_export_the_same_pack(
    trained_generator: Path, trained_scorer: Path, tmp_path: Path
) -> None:
    """Parts cut to fp16 EMA weights (carried off a GPU machine) export like the full ones."""
    from safetensors.torch import load_file

    runner = CliRunner()
    for part, folder in (("generator", trained_generator), ("scorer", trained_scorer)):
        result = runner.invoke(
            train_group, ["slim", "--part", str(folder), "--out", str(tmp_path / "slim" / part)]
        )
        assert result.exit_code == 0, result.output
        assert not (tmp_path / "slim" / part / "pipeline").exists()
    for source, name in ((trained_generator, "full"), (tmp_path / "slim", "slim")):
        generator = source / "generator" if name == "slim" else trained_generator
        scorer = source / "scorer" if name == "slim" else trained_scorer
        result = runner.invoke(
            train_group,
            [
                *("export", "--generator", str(generator), "--scorer", str(scorer)),
                *("--out", str(tmp_path / name)),
            ],
        )
        assert result.exit_code == 0, result.output
    for weights in (
        "generator/unet/diffusion_pytorch_model.safetensors",
        "scorer/model.safetensors",
    ):
        full = load_file(str(tmp_path / "full" / weights))
        slim = load_file(str(tmp_path / "slim" / weights))
        assert full.keys() == slim.keys()
        for key, tensor in full.items():
            # Both are fp16 exports of the same EMA weights.
            assert torch.equal(tensor, slim[key]), key
