"""The reference index for reference-guided generation (DESIGN.md §5).

Reference-guided mode starts the generator from an existing rendering (img2img, as in SDEdit):
the corpus item whose caption is nearest to the target keywords (all-MiniLM-L6-v2 similarity), in
the user's preferred style when the index holds it. The shipped index holds only the corpus's
train split and only licence-compatible sets (OpenMoji, share-alike, is left out by default).
Importing this package loads no model and no image library.
"""

from pmg_engine.reference._build import ReferenceIndexSummary, build_reference_index
from pmg_engine.reference._format import (
    DEFAULT_MAX_BYTES,
    DEFAULT_STYLES,
    LICENCES,
    EmbedFn,
    ReferenceIndexError,
    ReferenceIndexTooLargeError,
    SetLicence,
    minilm_embedder,
)
from pmg_engine.reference._index import ReferenceIndex, ReferenceItem

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_STYLES",
    "LICENCES",
    "EmbedFn",
    "ReferenceIndex",
    "ReferenceIndexError",
    "ReferenceIndexSummary",
    "ReferenceIndexTooLargeError",
    "ReferenceItem",
    "SetLicence",
    "build_reference_index",
    "minilm_embedder",
]
