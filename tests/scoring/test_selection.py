"""The balance of PAPER.md section 4: z = alpha*log d_p + (1 - alpha)*log d_t over candidates."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from pmg_engine.scoring import Scorer, cosine_to_score, score_candidates, select_candidate

# Candidate 0 is accurate, 1 is on taste, 2 is decent at both.
D_T = [0.8, -0.6, 0.4]
D_P = [-0.6, 0.8, 0.4]


class ColourScorer:
    """A real, tiny Scorer: cosine between an image's mean colour and a colour named in a text."""

    model_id = "test-colour"
    _colours: ClassVar[dict[str, tuple[float, float, float]]] = {
        "red": (1.0, -0.5, -0.5),
        "blue": (-0.5, -0.5, 1.0),
        "green": (-0.5, 1.0, -0.5),
    }

    def image_text_similarity(
        self, images: Sequence[Image.Image], texts: Sequence[str]
    ) -> NDArray[np.floating[Any]]:
        """Return the cosine of each image's centred mean colour with each text's colour."""
        means = np.array([np.asarray(image.convert("RGB")).mean(axis=(0, 1)) for image in images])
        image_vectors = means - means.mean(axis=1, keepdims=True)
        text_vectors = np.array(
            [self._colours[text.replace(",", " ").split()[0]] for text in texts]
        )
        image_vectors /= np.linalg.norm(image_vectors, axis=1, keepdims=True)
        text_vectors /= np.linalg.norm(text_vectors, axis=1, keepdims=True)
        similarities: NDArray[np.floating[Any]] = image_vectors @ text_vectors.T
        return similarities


def _swatches() -> list[Image.Image]:
    # Reddish-blue, pure blue, pure red: against "red" target and "blue" taste.
    return [
        Image.new("RGB", (8, 8), (200, 40, 120)),
        Image.new("RGB", (8, 8), (20, 20, 230)),
        Image.new("RGB", (8, 8), (230, 20, 20)),
    ]


def test_alpha_zero_picks_the_most_accurate() -> None:
    """With personalization weight 0 the best d_t wins."""
    assert select_candidate(D_T, D_P, 0.0).chosen_index == 0


def test_alpha_one_picks_the_most_personal() -> None:
    """With personalization weight 1 the best d_p wins."""
    assert select_candidate(D_T, D_P, 1.0).chosen_index == 1


def test_alpha_half_worked_example() -> None:
    """At 0.5 the balanced candidate beats both one-sided ones, with the expected z values."""
    selection = select_candidate(D_T, D_P, 0.5)
    # Scores (1 + cos) / 2: d_t -> 0.9, 0.2, 0.7 and d_p -> 0.2, 0.9, 0.7.
    assert selection.score_t == pytest.approx((0.9, 0.2, 0.7))
    assert selection.score_p == pytest.approx((0.2, 0.9, 0.7))
    expected = (0.5 * math.log(0.18), 0.5 * math.log(0.18), math.log(0.7))
    assert selection.z == pytest.approx(expected)
    assert selection.chosen_index == 2
    assert selection.d_t == tuple(D_T)
    assert selection.d_p == tuple(D_P)


def test_ties_go_to_the_lowest_index() -> None:
    """Equal z values select the first candidate."""
    assert select_candidate([0.3, 0.5, 0.5], [0.1, 0.1, 0.1], 0.0).chosen_index == 1


def test_non_positive_cosines_still_give_finite_z() -> None:
    """Cosines of 0 and -1 map to positive scores, so z stays finite (no log of <= 0)."""
    selection = select_candidate([-1.0, 0.0], [-1.0, 0.0], 0.5)
    assert all(math.isfinite(value) for value in selection.z)
    assert selection.chosen_index == 1
    assert cosine_to_score(-1.0) == pytest.approx(1e-6)


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan")])
def test_out_of_range_weight_is_rejected(weight: float) -> None:
    """A personalization weight outside [0, 1] raises ValueError naming it and its value."""
    with pytest.raises(
        ValueError, match=rf"personalization_weight must be in \[0, 1\], got {weight}"
    ):
        select_candidate(D_T, D_P, weight)


def test_nan_scores_are_rejected() -> None:
    """A NaN score raises, naming the list and the candidate."""
    with pytest.raises(ValueError, match=r"d_p\[1\] is NaN"):
        select_candidate(D_T, [0.1, float("nan"), 0.2], 0.5)


def test_malformed_score_lists_are_rejected() -> None:
    """Empty lists, unequal lengths and values outside [-1, 1] raise ValueError."""
    with pytest.raises(ValueError, match="d_t must hold at least one"):
        select_candidate([], [], 0.5)
    with pytest.raises(ValueError, match="one value per candidate"):
        select_candidate([0.1, 0.2], [0.1], 0.5)
    with pytest.raises(ValueError, match=r"d_t\[0\] must be a cosine"):
        select_candidate([3.0], [0.1], 0.5)


def test_selection_serialises_for_the_generation_row() -> None:
    """to_json is plain JSON with the choice, the weight, the mapping and every candidate."""
    payload = select_candidate(D_T, D_P, 0.5).to_json()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["chosen_index"] == 2
    assert payload["personalization_weight"] == 0.5
    assert "(1 + cos) / 2" in payload["score_mapping"]
    assert [candidate["d_t"] for candidate in payload["candidates"]] == D_T
    assert set(payload["candidates"][0]) == {"index", "d_t", "d_p", "score_t", "score_p", "z"}


def test_score_candidates_balances_target_and_preference() -> None:
    """A red target and a blue taste: accuracy picks red, taste picks blue."""
    scorer = ColourScorer()
    assert isinstance(scorer, Scorer)
    images = _swatches()

    def choose(weight: float) -> int:
        return score_candidates(
            scorer,
            images,
            target_text="red cat",
            preference_text="blue, pastel",
            personalization_weight=weight,
        ).chosen_index

    assert choose(0.0) == 2
    assert choose(1.0) == 1


def test_empty_preference_reduces_to_accuracy() -> None:
    """Without preference text the most accurate candidate wins, whatever the weight."""
    selection = score_candidates(
        ColourScorer(),
        _swatches(),
        target_text="red cat",
        preference_text="  ",
        personalization_weight=1.0,
    )
    assert selection.chosen_index == 2
    assert selection.personalization_weight == 0.0
    assert len(set(selection.d_p)) == 1


def test_score_candidates_validates_before_scoring() -> None:
    """Bad weight, no images or an empty target raise ValueError."""
    scorer = ColourScorer()
    kwargs: dict[str, Any] = {"target_text": "red", "preference_text": "blue"}
    with pytest.raises(ValueError, match="personalization_weight"):
        score_candidates(scorer, _swatches(), personalization_weight=2.0, **kwargs)
    with pytest.raises(ValueError, match="images"):
        score_candidates(scorer, [], personalization_weight=0.5, **kwargs)
    with pytest.raises(ValueError, match="target_text"):
        score_candidates(
            scorer, _swatches(), target_text="", preference_text="blue", personalization_weight=0.5
        )
