"""The training loop every part shares: budget, EMA, atomic checkpoints, resume, loss log.

A part is a ``Task``: it owns its model and data and returns a loss for a batch drawn with the
loop's ``torch.Generator``. Because every random draw goes through that one generator, whose
state is checkpointed with the weights, optimizer and EMA, a resumed run continues exactly where
the interrupted one stopped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from pmg_engine.train._runtime import (
    EMA,
    append_log,
    autocast_dtype,
    resolve_device,
    save_atomic,
    stop_on_sigterm,
    truncate_log,
)

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
LOSS_LOG_NAME = "loss.jsonl"


@dataclass(frozen=True)
class TrainOptions:
    """How long and how one part trains; ``max_steps`` counts from the first run, not this one."""

    out_dir: Path
    device: str = "auto"
    precision: str = "auto"
    minutes: float | None = None
    max_steps: int | None = None
    batch_size: int = 32
    resume: bool = True
    checkpoint_every: int = 500
    checkpoint_minutes: float = 15.0
    log_every: int = 25
    lr: float = 3e-4
    warmup_steps: int = 200
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        if self.minutes is None and self.max_steps is None:
            raise ValueError("give minutes or max_steps, or training never stops")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")


@dataclass(frozen=True)
class TrainResult:
    """Where a run stopped and why."""

    step: int
    steps_this_run: int
    seconds: float
    last_loss: float | None
    stopped_by: str
    checkpoint: Path


class Task(Protocol):
    """One trainable part: its model, its loss, and what it writes at checkpoints."""

    name: str
    model: nn.Module

    def loss(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """Return the mean loss of one batch drawn with ``generator``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Return the part's configuration, stored in every checkpoint."""
        ...

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        """Write samples for ``step`` and return any evaluation figures."""
        ...

    def finish(self, step: int, ema_model: nn.Module) -> None:
        """Write the part's deliverable (exported weights) from the EMA model."""
        ...


def train(task: Task, options: TrainOptions) -> TrainResult:
    """Train ``task`` until its time or step budget is spent; resume from ``last.pt`` if asked."""
    # 1. Device, precision and a seeded generator for every random draw of the task.
    device = resolve_device(options.device)
    amp_dtype = autocast_dtype(options.precision, device)
    out = options.out_dir
    checkpoint_path = out / "checkpoints" / CHECKPOINT_NAME
    log_path = out / LOSS_LOG_NAME
    out.mkdir(parents=True, exist_ok=True)
    model = task.model.to(device)
    generator = torch.Generator().manual_seed(options.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    ema = EMA(model, options.ema_decay)
    step = 0
    # 2. Resume: weights, EMA, optimizer, generator and step from the last checkpoint.
    if options.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        step = int(state["step"])
        truncate_log(log_path, step)
        logger.info("%s: resumed from %s at step %d", task.name, checkpoint_path, step)
    elif log_path.exists():
        log_path.unlink()

    saved_at = step

    def checkpoint(reason: str) -> dict[str, float]:
        nonlocal saved_at
        saved_at = step
        figures = task.on_checkpoint(step, ema.model)
        save_atomic(
            {
                "step": step,
                "model": model.state_dict(),
                "ema": ema.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "task": task.describe(),
                "options": {k: str(v) for k, v in asdict(options).items()},
            },
            checkpoint_path,
        )
        if figures:
            append_log(out / "eval.jsonl", {"step": step, **figures})
        logger.info("%s: checkpoint at step %d (%s) %s", task.name, step, reason, figures or "")
        return figures

    # 3. The loop: warm-up then constant learning rate; EMA after every step.
    started = time.monotonic()
    last_checkpoint = started
    first_step = step
    window: list[float] = []
    last_loss: float | None = None
    stopped_by = "max_steps"
    model.train()
    bar = _progress_bar(options, step)
    with stop_on_sigterm() as stop, bar:
        while options.max_steps is None or step < options.max_steps:
            elapsed = time.monotonic() - started
            if options.minutes is not None and elapsed >= options.minutes * 60:
                stopped_by = "minutes"
                break
            if stop.is_set():
                stopped_by = "sigterm"
                break
            lr = options.lr * min(1.0, (step + 1) / max(1, options.warmup_steps))
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(
                device.type, dtype=amp_dtype or torch.float32, enabled=bool(amp_dtype)
            ):
                loss = task.loss(options.batch_size, generator, device)
            optimizer.zero_grad(set_to_none=True)
            scaled: torch.Tensor = scaler.scale(loss)
            scaled.backward()  # type: ignore[no-untyped-call]
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            ema.update(model, step)
            window.append(float(loss.detach()))
            bar.update(1)
            if step % options.log_every == 0 or step == options.max_steps:
                last_loss = sum(window) / len(window)
                rate = (step - first_step) / max(time.monotonic() - started, 1e-9)
                append_log(
                    log_path,
                    {
                        "step": step,
                        "loss": last_loss,
                        "lr": lr,
                        "steps_per_s": rate,
                        "seconds": time.monotonic() - started,
                    },
                )
                logger.info(
                    "%s: step %d loss %.5f lr %.2e %.2f steps/s",
                    task.name,
                    step,
                    last_loss,
                    lr,
                    rate,
                )
                bar.set_postfix(loss=f"{last_loss:.4f}", refresh=False)
                window.clear()
            due = time.monotonic() - last_checkpoint >= options.checkpoint_minutes * 60
            if step % options.checkpoint_every == 0 or due:
                model.eval()
                checkpoint("every" if not due else "time")
                model.train()
                last_checkpoint = time.monotonic()
    # 4. A final checkpoint (unless this run did nothing new), then the part's deliverable.
    model.eval()
    if step != saved_at or not checkpoint_path.exists():
        checkpoint(stopped_by)
    task.finish(step, ema.model)
    return TrainResult(
        step=step,
        steps_this_run=step - first_step,
        seconds=time.monotonic() - started,
        last_loss=last_loss,
        stopped_by=stopped_by,
        checkpoint=checkpoint_path,
    )


def _progress_bar(options: TrainOptions, step: int) -> Any:
    """Return a tqdm bar over the steps (disabled unless asked: logs serve background runs)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=options.max_steps,
        initial=step,
        unit="step",
        disable=not options.progress,
        dynamic_ncols=True,
    )
