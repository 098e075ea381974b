"""The figures: retrieval ranks, top-k rates, style rates, on cases whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pmg_engine.corpus import CorpusItem
from pmg_engine.eval._run import prompt_figures, scorer_figures
from pmg_engine.eval.evalset import EvalSet, resolve_items
from pmg_engine.eval.metrics import match_rate, retrieval, truth_ranks
from pmg_engine.eval.samples import load_images
from tests.eval.conftest import PixelScorer, RandomScorer


def test_ranks_count_better_and_tied_candidates() -> None:
    """A rank counts candidates scored above or equal to the true one."""
    sims = np.array([[0.9, 0.1, 0.2], [0.5, 0.7, 0.7], [0.3, 0.3, 0.3]])
    assert truth_ranks(sims, [0, 1, 2]).tolist() == [0, 1, 2]
    assert retrieval(sims, [0, 1, 2], ks=(1, 2)) == {
        1: pytest.approx(1 / 3),
        2: pytest.approx(2 / 3),
    }


def test_random_similarities_score_near_chance() -> None:
    """Random scores rank the truth first about once in 20."""
    sims = np.random.default_rng(0).normal(size=(4000, 20))
    assert retrieval(sims, [0] * 4000, ks=(1,))[1] == pytest.approx(0.05, abs=0.015)


def test_bad_truth_is_refused() -> None:
    """Truth indices outside the candidates are a ValueError."""
    with pytest.raises(ValueError, match="truth"):
        truth_ranks(np.zeros((2, 3)), [0, 3])


def test_match_rate() -> None:
    """The style rate is the share of matching positions."""
    assert match_rate(["a", "b", "c", "d"], ["a", "b", "x", "y"]) == 0.5


def test_scorer_figures_of_a_perfect_scorer(items: list[CorpusItem], corpus_dir: Path) -> None:
    """A scorer that knows each rendering's concept and style gets every figure right."""
    held = [item for item in items if item.split == "style-heldout"]
    figures = scorer_figures(PixelScorer(), held, load_images(corpus_dir, held), batch_size=3)
    assert figures == {
        "scorer text-to-image top-1": 1.0,
        "scorer text-to-image top-5": 1.0,
        "scorer style accuracy": 1.0,
    }


def test_prompt_figures_known_and_random(
    items: list[CorpusItem], corpus_dir: Path, eval_set: EvalSet
) -> None:
    """Images of the prompted concept rank first with the perfect scorer, ~chance with random."""
    cases = list(eval_set.prompts)
    images = load_images(corpus_dir, resolve_items(eval_set, items, [c.id for c in cases]))
    perfect = prompt_figures(PixelScorer(), cases, images, label="generator text-to-image")
    assert perfect == {
        "generator text-to-image top-1": 1.0,
        "generator text-to-image style control": 1.0,
    }
    wrong = prompt_figures(PixelScorer(), cases, images[1:] + images[:1], label="generator x")
    assert wrong["generator x top-1"] < 1.0
    many = cases * 50
    rates = prompt_figures(RandomScorer(), many, images * 50, label="generator r", batch_size=64)
    assert rates["generator r top-1"] == pytest.approx(0.5, abs=0.1)  # one distractor: chance 1/2
