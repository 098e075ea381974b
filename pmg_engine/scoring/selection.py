"""Pick the candidate that best balances accuracy and preference (PAPER.md §4).

``z = alpha·log d_p + (1 - alpha)·log d_t`` needs positive scores, but a scorer returns cosines in
[-1, 1]. The released code ([C-MS]) takes the log of raw CLIP logits (100·cos), which is
undefined once a cosine reaches 0 and differs from log cos only by a constant. We map each
cosine to ``(1 + cos) / 2`` (floored at 1e-6) instead, because it is

- defined for every cosine, so an unrelated candidate loses instead of producing NaN;
- monotone, so alpha = 0 and alpha = 1 pick exactly what [C-MS] picks (best d_t, best d_p);
- per candidate, unlike a softmax over the batch, so a stored score means the same thing
  whatever else was generated with it, and scores from different requests compare.

In the narrow band where CLIP cosines live (about 0.15 to 0.35) this mapping makes z close to
a weighted sum of cosines, whereas log cos weighs a unit of the lower score more heavily. The
paper does not define d_t or d_p beyond "scores" ([NR]); this is the documented deviation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pmg_engine.scoring.base import Scorer

SCORE_FLOOR = 1e-6
SCORE_MAPPING = "(1 + cos) / 2, floored at 1e-6"
# Float error lets a perfect match come out as 1.0000001; anything further off is a bug upstream.
_COSINE_SLACK = 1e-3


@dataclass(frozen=True)
class Selection:
    """Every candidate's scores and the winner, as stored on the generation row.

    ``d_t`` / ``d_p`` are the cosines as the scorer gave them, ``score_t`` / ``score_p`` the
    positive scores whose logs enter ``z``, and ``personalization_weight`` the alpha used.
    """

    chosen_index: int
    personalization_weight: float
    d_t: tuple[float, ...]
    d_p: tuple[float, ...]
    score_t: tuple[float, ...]
    score_p: tuple[float, ...]
    z: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict: the choice, alpha, the mapping, and one entry per candidate."""
        return {
            "chosen_index": self.chosen_index,
            "personalization_weight": self.personalization_weight,
            "score_mapping": SCORE_MAPPING,
            "candidates": [
                {
                    "index": index,
                    "d_t": self.d_t[index],
                    "d_p": self.d_p[index],
                    "score_t": self.score_t[index],
                    "score_p": self.score_p[index],
                    "z": self.z[index],
                }
                for index in range(len(self.z))
            ],
        }


def cosine_to_score(cosine: float) -> float:
    """Map a cosine in [-1, 1] to the positive score whose log enters z (see module doc)."""
    return max((1.0 + cosine) / 2.0, SCORE_FLOOR)


def select_candidate(
    d_t: Sequence[float], d_p: Sequence[float], personalization_weight: float
) -> Selection:
    """Return the candidate maximising ``z = alpha·log d_p + (1 - alpha)·log d_t``.

    ``d_t`` and ``d_p`` are cosine similarities (image vs target text, image vs preference
    text) as a :class:`Scorer` returns them; alpha is ``personalization_weight``. Ties go to
    the lowest index.
    """
    alpha = _check_weight(personalization_weight)
    targets = _check_cosines("d_t", d_t)
    preferences = _check_cosines("d_p", d_p)
    if len(targets) != len(preferences):
        raise ValueError(
            f"d_t and d_p must have one value per candidate, got {len(targets)} and "
            f"{len(preferences)}"
        )
    # 1. Positive scores, so that the logs exist.
    score_t = tuple(cosine_to_score(value) for value in targets)
    score_p = tuple(cosine_to_score(value) for value in preferences)
    # 2. The balance objective of PAPER.md §4.
    z = tuple(
        alpha * math.log(p) + (1.0 - alpha) * math.log(t)
        for t, p in zip(score_t, score_p, strict=True)
    )
    # 3. max() keeps the first of equal keys, which is the lowest index.
    chosen = max(range(len(z)), key=z.__getitem__)
    return Selection(
        chosen_index=chosen,
        personalization_weight=alpha,
        d_t=targets,
        d_p=preferences,
        score_t=score_t,
        score_p=score_p,
        z=z,
    )


def score_candidates(
    scorer: Scorer,
    images: Sequence[Image.Image],
    *,
    target_text: str,
    preference_text: str,
    personalization_weight: float,
) -> Selection:
    """Score ``images`` against the target and the preference text, then select one.

    With an empty ``preference_text`` there is no taste to balance: d_p is a constant 0 and the
    selection runs with alpha = 0 (recorded as such), so the most accurate candidate wins.
    """
    _check_weight(personalization_weight)
    if len(images) == 0:
        raise ValueError("images must hold at least one candidate, got none")
    if not target_text.strip():
        raise ValueError(f"target_text must not be empty, got {target_text!r}")
    # 1. One scorer call for both texts: the images are encoded once.
    has_preference = bool(preference_text.strip())
    texts = [target_text, preference_text] if has_preference else [target_text]
    similarities = np.asarray(scorer.image_text_similarity(images, texts), dtype=np.float64)
    if similarities.shape != (len(images), len(texts)):
        raise ValueError(
            f"scorer {scorer.model_id!r} returned shape {similarities.shape}, "
            f"expected {(len(images), len(texts))}"
        )
    # 2. Balance, or accuracy alone when there is no preference to honour.
    d_t = similarities[:, 0].tolist()
    if has_preference:
        return select_candidate(d_t, similarities[:, 1].tolist(), personalization_weight)
    return select_candidate(d_t, [0.0] * len(images), 0.0)


def _check_weight(personalization_weight: float) -> float:
    alpha = float(personalization_weight)
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(
            f"personalization_weight must be in [0, 1], got {personalization_weight!r}"
        )
    return alpha


def _check_cosines(name: str, values: Sequence[float]) -> tuple[float, ...]:
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one candidate's score, got none")
    checked = []
    for index, value in enumerate(values):
        number = float(value)
        if math.isnan(number):
            raise ValueError(f"{name}[{index}] is NaN; the scorer failed on that candidate")
        if not -1.0 - _COSINE_SLACK <= number <= 1.0 + _COSINE_SLACK:
            raise ValueError(f"{name}[{index}] must be a cosine in [-1, 1], got {value!r}")
        checked.append(min(max(number, -1.0), 1.0))
    return tuple(checked)
