"""Accuracy and preference scores for candidate images, and the balanced choice among them.

DESIGN.md section 1, step 6 and PAPER.md section 4. Importing this package loads no model and
does not import torch; :class:`ClipScorer` imports it when it loads.
"""

from __future__ import annotations

from pmg_engine.scoring.base import Scorer, ScorerNotFoundError
from pmg_engine.scoring.clip import ClipScorer
from pmg_engine.scoring.selection import (
    Selection,
    cosine_to_score,
    score_candidates,
    select_candidate,
)

__all__ = [
    "ClipScorer",
    "Scorer",
    "ScorerNotFoundError",
    "Selection",
    "cosine_to_score",
    "score_candidates",
    "select_candidate",
]
