"""Device, precision, EMA, atomic files and signals for the training loop."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn


def resolve_device(name: str) -> torch.device:
    """Return ``cuda`` when ``auto`` finds a GPU, otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch sees no GPU")
    return torch.device(name)


def default_device() -> torch.device:
    """Return the GPU when there is one, for work done once outside the loop (caches)."""
    return resolve_device("auto")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype, or ``None`` for plain fp32 (``auto``: bf16 on CUDA only)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 autocast needs CUDA; use bf16 or fp32 on CPU")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class EMA:
    """An exponential moving average of a model's weights, with the usual warm-up of the decay."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards ``model``; early steps follow it closely."""
        decay = min(self.decay, (1 + step) / (10 + step))
        averaged: list[torch.Tensor] = [p.detach() for p in self.model.parameters()]
        live: list[torch.Tensor] = [p.detach() for p in model.parameters()]
        if len(averaged) != len(live):
            raise ValueError("the EMA copy and the model have different parameters")
        # One fused update over all tensors: per-tensor calls cost a GPU launch each.
        torch._foreach_lerp_(averaged, live, 1.0 - decay)
        for avg_buf, live_buf in zip(self.model.buffers(), model.buffers(), strict=True):
            avg_buf.copy_(live_buf)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file so a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        # A line cut short by a kill, or blank: drop it.
        return float("inf")


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines after ``step``, the step a resumed run continues from."""
    # Lines written after the checkpoint we resume from describe steps that will be redone.
    if not path.exists():
        return
    kept = [line for line in path.read_text("utf-8").splitlines() if _step_of(line) <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept), "utf-8")
    os.replace(tmp, path)


def append_log(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to ``path``."""
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[threading.Event]:
    """Yield an event that SIGTERM sets (main thread only) instead of killing the process."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # A background run killed with SIGTERM saves a checkpoint instead of losing its work.
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
