"""What a benchmark needs besides its subject: the machine it ran on, in one line, and timing."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def machine() -> str:
    """Return host, CPU model, cores and load, GPU, torch and Python versions."""
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.node()} | {cpu} | {os.cpu_count()} cores, load {load:.1f} | {gpu} | "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads) | "
        f"Python {platform.python_version()}"
    )


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Return the median wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
