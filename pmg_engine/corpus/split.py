"""The fixed evaluation split: by concept, and one held-out style per training concept.

Both come from hashes of stable keys, never from a random generator or from the order of
the sets, so a rebuild, a ``limit`` or a new emoji set leaves every other item where it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

Split = Literal["train", "style-heldout", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "style-heldout", "val", "test")

_CONCEPT_SALT = "pmg-corpus-concept-v1"
_STYLE_SALT = "pmg-corpus-style-v1"
VAL_PERCENT = 5
TEST_PERCENT = 5


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:8], "big")


def concept_split(concept: str) -> Literal["train", "val", "test"]:
    """Return the split of every rendering of ``concept``: 90 % train, 5 % val, 5 % test."""
    bucket = _hash(_CONCEPT_SALT, concept) % 100
    if bucket < 100 - VAL_PERCENT - TEST_PERCENT:
        return "train"
    return "val" if bucket < 100 - TEST_PERCENT else "test"


def heldout_style(concept: str, styles: Iterable[str]) -> str | None:
    """Return the style of ``concept`` kept out of training, or ``None`` if it has one style.

    Rendezvous hashing: the style with the smallest hash of (concept, style) wins, so adding
    or losing a set moves only the concepts whose winner it was.
    """
    available = sorted(set(styles))
    if len(available) < 2:
        # Holding out a concept's only rendering would make it unseen, not style-held-out.
        return None
    return min(available, key=lambda style: (_hash(_STYLE_SALT, concept, style), style))


def item_split(concept: str, style: str, styles: Iterable[str]) -> Split:
    """Return the split of the rendering of ``concept`` in ``style`` among its ``styles``."""
    by_concept = concept_split(concept)
    if by_concept != "train":
        return by_concept
    return "style-heldout" if heldout_style(concept, styles) == style else "train"
