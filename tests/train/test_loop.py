"""The shared loop: exact resume, budgets, checkpoints and the loss log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from pmg_engine.train._runtime import autocast_dtype
from pmg_engine.train.loop import TrainOptions, train


class ToyTask:
    """Fit a linear map to noisy targets; every draw comes from the loop's generator."""

    name = "toy"

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model: nn.Module = nn.Linear(4, 2)
        self.checkpoints: list[int] = []
        self.finished = 0

    def loss(self, batch_size: int, generator: torch.Generator, device: torch.device) -> Any:
        x = torch.randn(batch_size, 4, generator=generator)
        target = x[:, :2] * 3.0 + 0.1 * torch.randn(batch_size, 2, generator=generator)
        return (self.model(x.to(device)) - target.to(device)).pow(2).mean()

    def describe(self) -> dict[str, Any]:
        return {"kind": "toy"}

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        self.checkpoints.append(step)
        return {"weight_sum": float(sum(p.sum() for p in ema_model.parameters()))}

    def finish(self, step: int, ema_model: nn.Module) -> None:
        self.finished = step


def _options(out: Path, **kw: Any) -> TrainOptions:
    base: dict[str, Any] = {"batch_size": 8, "lr": 1e-2, "warmup_steps": 2, "log_every": 1}
    return TrainOptions(out_dir=out, **{**base, **kw})


def _state(out: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    return state


def test_resume_continues_with_identical_state(tmp_path: Path) -> None:
    """Two runs of 3 + 3 steps end exactly where one run of 6 steps ends."""
    straight = train(ToyTask(), _options(tmp_path / "a", max_steps=6, checkpoint_every=100))
    first = train(ToyTask(), _options(tmp_path / "b", max_steps=3, checkpoint_every=100))
    resumed = train(ToyTask(), _options(tmp_path / "b", max_steps=6, checkpoint_every=100))
    assert (first.step, resumed.step, resumed.steps_this_run) == (3, 6, 3)
    assert straight.step == 6
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    for key in ("model", "ema"):
        for name, value in a[key].items():
            torch.testing.assert_close(b[key][name], value, rtol=0, atol=1e-6)
    assert torch.equal(a["generator"], b["generator"])
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "loss.jsonl").open()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_no_resume_starts_over(tmp_path: Path) -> None:
    """--no-resume ignores the checkpoint, restarts at step 0 and rewrites the loss log."""
    train(ToyTask(), _options(tmp_path, max_steps=3))
    again = train(ToyTask(), _options(tmp_path, max_steps=2, resume=False))
    assert again.step == 2
    assert len((tmp_path / "loss.jsonl").read_text().splitlines()) == 2


def test_checkpoints_every_n_steps_and_at_the_end(tmp_path: Path) -> None:
    """Checkpoints come every N steps and once more at the end; figures go to eval.jsonl."""
    task = ToyTask()
    result = train(task, _options(tmp_path, max_steps=5, checkpoint_every=2))
    assert task.checkpoints == [2, 4, 5]
    assert task.finished == 5
    assert result.stopped_by == "max_steps"
    assert _state(tmp_path)["step"] == 5
    figures = [json.loads(line) for line in (tmp_path / "eval.jsonl").open()]
    assert [f["step"] for f in figures] == [2, 4, 5]


def test_minutes_budget_stops_the_run(tmp_path: Path) -> None:
    """A spent time budget stops before any step but still leaves a checkpoint."""
    result = train(ToyTask(), _options(tmp_path, minutes=0.0))
    assert (result.step, result.stopped_by) == (0, "minutes")
    assert result.checkpoint.exists()


def test_loss_goes_down(tmp_path: Path) -> None:
    """The toy regression's logged loss falls over 80 steps."""
    train(ToyTask(), _options(tmp_path, max_steps=80, checkpoint_every=1000, lr=0.1))
    losses = [json.loads(line)["loss"] for line in (tmp_path / "loss.jsonl").open()]
    assert sum(losses[-5:]) < 0.2 * sum(losses[:5])


def test_options_are_validated() -> None:
    """A run needs a budget and a known precision; fp16 autocast is CUDA only."""
    with pytest.raises(ValueError, match="minutes or max_steps"):
        TrainOptions(out_dir=Path("x"))
    with pytest.raises(ValueError, match="precision"):
        TrainOptions(out_dir=Path("x"), max_steps=1, precision="int8")
    with pytest.raises(ValueError, match="CUDA"):
        autocast_dtype("fp16", torch.device("cpu"))
    assert autocast_dtype("auto", torch.device("cpu")) is None


def test_resume_drops_log_lines_after_the_checkpoint(tmp_path: Path) -> None:
    """Log lines past the checkpoint, or cut short by a kill, are dropped on resume."""
    train(ToyTask(), _options(tmp_path, max_steps=2))
    with (tmp_path / "loss.jsonl").open("a") as log:
        log.write('{"step": 3, "loss": 1.0}\n{"step": 4, "lo')
    train(ToyTask(), _options(tmp_path, max_steps=3))
    steps = [json.loads(line)["step"] for line in (tmp_path / "loss.jsonl").open()]
    assert steps == [1, 2, 3]
