"""What assembling one batch of the generator's text conditioning costs, per-row loop vs gather.

The GPU run of the generator was bound at 6-8 steps/s by the Python side of its step, the
per-sample loop that concatenated cached token states. The sampler now builds a batch with one
gather from index tables, on the training device. This compares both on a text cache of the
real shape (fp16 token states ``[texts, 64, 384]``, a random 0-2 extra windows per text) at the
batch sizes of the CPU (64) and GPU (512) runs, median of the repeats; machine printed first.
The per-row loop here is the earlier sampler's code, kept as the baseline.

    .venv/bin/python benchmarks/conditioning_sampler.py [--texts 30000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine, median_seconds
from pmg_engine.train.prompts import UNCOND_PROBABILITY, VARIANTS, ConditioningSampler
from pmg_engine.train.textcache import MAX_CHUNKS

WINDOW = 32
WIDTH = 384


def _baseline(sampler: ConditioningSampler, tokens: torch.Tensor, chunks: torch.Tensor) -> Any:
    """The earlier per-row sampler, reading the same tables."""
    weights = torch.tensor([UNCOND_PROBABILITY] + [w for *_, w in VARIANTS])
    weights = weights / weights.sum()
    length_full = (MAX_CHUNKS + 1) * WINDOW

    def segment(row: int) -> torch.Tensor:
        return tokens[row, : int(chunks[row]) * WINDOW].float()

    def sample(items: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        choice = torch.multinomial(weights, len(items), replacement=True, generator=generator)
        rows: list[list[torch.Tensor]] = []
        for item, pick in zip(items.tolist(), choice.tolist(), strict=True):
            parts = [segment(int(sampler.first[pick, item]))]
            second = int(sampler.second[pick, item])
            if second >= 0:
                parts.append(segment(second))
            rows.append(parts)
        used = max(sum(len(p) for p in parts) for parts in rows)
        full = bool(torch.rand(1, generator=generator) < 0.5)
        length = max(used, length_full) if full else used
        out = torch.zeros(len(items), length, WIDTH)
        for i, parts in enumerate(rows):
            joined = torch.cat(parts)[:length]
            out[i, : len(joined)] = joined
        return out

    return sample


def main() -> None:
    """Print the batch assembly figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=30000)
    parser.add_argument("--items", type=int, default=9454)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(machine())
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(args.texts, MAX_CHUNKS * WINDOW, WIDTH, generator=generator).half()
    chunks = torch.randint(1, MAX_CHUNKS + 1, (args.texts,), generator=generator)
    # The sampler's tables as its constructor builds them from a real corpus: row 0 the dropped
    # caption, then one first (and maybe second) cached text per variant and item.
    sampler = ConditioningSampler.__new__(ConditioningSampler)
    sampler.window, sampler.length = WINDOW, (MAX_CHUNKS + 1) * WINDOW
    variants = len(VARIANTS) + 1
    sampler.first = torch.randint(args.texts, (variants, args.items), generator=generator)
    sampler.second = torch.randint(args.texts, (variants, args.items), generator=generator)
    for row, (_, tail, _) in enumerate(VARIANTS, start=1):
        if tail is None:
            sampler.second[row] = -1
    sampler.second[0] = -1
    sampler.tokens, sampler.lengths = tokens, chunks.long() * WINDOW
    weights = torch.tensor([UNCOND_PROBABILITY] + [w for *_, w in VARIANTS])
    sampler.weights = weights / weights.sum()
    loop = _baseline(sampler, tokens, chunks)
    print(f"{'batch':>6} {'per-row loop (ms)':>18} {'gather (ms)':>12} {'speed-up':>9}")
    for batch in (64, 512):
        rows = torch.randint(args.items, (batch,), generator=generator)
        before = median_seconds(lambda rows=rows: loop(rows, generator), args.repeats) * 1000
        after = (
            median_seconds(lambda rows=rows: sampler.sample(rows, generator), args.repeats) * 1000
        )
        print(f"{batch:>6} {before:>18.2f} {after:>12.2f} {before / after:>8.1f}x")


if __name__ == "__main__":
    main()
