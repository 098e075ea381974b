"""The fixed prompt set: held-out only, styles in turn, same-style distractors, deterministic."""

from __future__ import annotations

import pytest

from pmg_engine.corpus import CorpusItem
from pmg_engine.eval._prompts import choose_cases


def test_cases_are_held_out_and_cover_styles(items: list[CorpusItem]) -> None:
    """Prompts come from style-heldout and test renderings, every style in turn."""
    cases = choose_cases(items, 8, num_distractors=1)
    assert all(case.item.split in ("style-heldout", "test") for case in cases)
    assert sorted({case.style for case in cases[:4]}) == sorted({i.style for i in items})
    assert cases[0].prompt == cases[0].item.styled_caption
    assert [c.item.id for c in cases] == [
        c.item.id for c in choose_cases(items, 8, num_distractors=1)
    ]


def test_distractors_share_the_style_not_the_concept(items: list[CorpusItem]) -> None:
    """Each distractor is another concept's prompt in the prompt's own style."""
    by_prompt = {i.styled_caption: i for i in items}
    for case in choose_cases(items, 8, num_distractors=1):
        for text in case.distractors:
            assert by_prompt[text].style == case.style
            assert by_prompt[text].concept != case.item.concept


def test_too_many_prompts_or_distractors_is_an_error(items: list[CorpusItem]) -> None:
    """Asking for more than the held-out set holds is a ValueError."""
    with pytest.raises(ValueError, match="more than"):
        choose_cases(items, 100, num_distractors=1)
    with pytest.raises(ValueError, match="distractors"):
        choose_cases(items, 2, num_distractors=19)


def test_settings_refuse_a_strength_that_leaves_no_step() -> None:
    """Strength x steps below one step is refused before any model runs."""
    from pmg_engine.eval._run import EvalSettings

    with pytest.raises(ValueError, match="no denoising step"):
        EvalSettings(num_inference_steps=1, strength=0.5)
    with pytest.raises(ValueError, match="prompts"):
        EvalSettings(prompts=0)
