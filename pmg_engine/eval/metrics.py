"""The figures of ``pmg eval models`` as pure functions of similarities and labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def truth_ranks(similarity: NDArray[np.floating[Any]], truth: Sequence[int]) -> NDArray[np.int64]:
    """Return the 0-based rank of each query's true candidate among ``similarity``'s columns.

    ``similarity`` is ``[queries, candidates]``. A candidate that ties the true one counts as
    ranked above it, so a scorer that gives every candidate the same score is never right.
    """
    sims = np.asarray(similarity, dtype=np.float64)
    if sims.ndim != 2:
        raise ValueError(f"similarity must be [queries, candidates], got shape {sims.shape}")
    rows = np.arange(sims.shape[0])
    picked = np.asarray(truth, dtype=np.int64)
    if picked.shape != rows.shape:
        raise ValueError(f"truth has {picked.shape[0]} entries for {sims.shape[0]} queries")
    if picked.size and (picked.min() < 0 or picked.max() >= sims.shape[1]):
        raise ValueError(f"truth indices must be in [0, {sims.shape[1]}), got {picked.tolist()}")
    true_scores = sims[rows, picked][:, None]
    at_least = (sims >= true_scores).sum(axis=1) - 1  # minus the true candidate itself
    ranks: NDArray[np.int64] = at_least.astype(np.int64)
    return ranks


def top_k_rate(ranks: NDArray[np.int64], k: int) -> float:
    """Return the share of queries whose true candidate is among the first ``k``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if ranks.size == 0:
        raise ValueError("top_k_rate needs at least one query")
    return float((ranks < k).mean())


def retrieval(
    similarity: NDArray[np.floating[Any]], truth: Sequence[int], ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Return top-k rates for each ``k`` in ``ks``."""
    ranks = truth_ranks(similarity, truth)
    return {k: top_k_rate(ranks, k) for k in ks}


def match_rate(predicted: Sequence[str], expected: Sequence[str]) -> float:
    """Return the share of positions where ``predicted`` equals ``expected``."""
    if len(predicted) != len(expected) or not expected:
        raise ValueError(
            f"predicted and expected must be non-empty and of one length, got "
            f"{len(predicted)} and {len(expected)}"
        )
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)
