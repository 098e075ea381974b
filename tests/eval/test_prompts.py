"""Drawing a set: held-out only, styles in turn, same-style distractors, deterministic."""

from __future__ import annotations

import pytest

from pmg_engine.corpus import CorpusItem
from pmg_engine.eval._prompts import choose_prompts


def test_prompts_are_held_out_and_cover_styles(items: list[CorpusItem]) -> None:
    """Prompts come from style-heldout and test renderings, every style in turn, repeatably."""
    chosen = choose_prompts(items, 8, num_distractors=1)
    assert all(item.split in ("style-heldout", "test") for item, _ in chosen)
    assert sorted({item.style for item, _ in chosen[:4]}) == sorted({i.style for i in items})
    again = choose_prompts(items, 8, num_distractors=1)
    assert [(i.id, [d.id for d in ds]) for i, ds in chosen] == [
        (i.id, [d.id for d in ds]) for i, ds in again
    ]


def test_distractors_share_the_style_not_the_concept(items: list[CorpusItem]) -> None:
    """Each distractor is another held-out concept's rendering in the prompt's own style."""
    for item, distractors in choose_prompts(items, 8, num_distractors=1):
        for other in distractors:
            assert other.style == item.style
            assert other.concept != item.concept
            assert other.split in ("style-heldout", "test")


def test_too_many_prompts_or_distractors_is_an_error(items: list[CorpusItem]) -> None:
    """Asking for more than the held-out set holds is a ValueError."""
    with pytest.raises(ValueError, match="more than"):
        choose_prompts(items, 100, num_distractors=1)
    with pytest.raises(ValueError, match="distractors"):
        choose_prompts(items, 2, num_distractors=19)


def test_settings_refuse_a_strength_that_leaves_no_step() -> None:
    """Strength x steps below one step is refused before any model runs."""
    from pmg_engine.eval._run import EvalSettings

    with pytest.raises(ValueError, match="no denoising step"):
        EvalSettings(num_inference_steps=1, strength=0.5)
    with pytest.raises(ValueError, match="prompts"):
        EvalSettings(prompts=0)
