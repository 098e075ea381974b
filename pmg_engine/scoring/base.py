"""What every scorer offers: cosine similarity between images and texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pmg_engine.errors import PMGError


class ScorerNotFoundError(PMGError, FileNotFoundError):
    """The configured scorer model is neither a local folder nor in the local cache."""


@runtime_checkable
class Scorer(Protocol):
    """Scores images against texts in a shared embedding space (d_t and d_p, PAPER.md §4)."""

    model_id: str

    def image_text_similarity(
        self, images: Sequence[Image.Image], texts: Sequence[str]
    ) -> NDArray[np.floating[Any]]:
        """Return cosine similarities in [-1, 1], shape ``[len(images), len(texts)]``."""
        ...
