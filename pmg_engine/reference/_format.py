"""The reference index's files, the licences of the sets it may hold, and the embedding hook."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pmg_engine.errors import PMGError

INDEX_NAME = "index.json"
ITEMS_NAME = "items.jsonl"
THUMBNAILS_NAME = "thumbnails.npz"
EMBEDDINGS_NAME = "embeddings.npy"
CARD_NAME = "README.md"
FORMAT = "pmg-reference-index"
FORMAT_VERSION = 1
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Reference-guided mode: the shipped index is 25 MB at most.
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
# Lossless PNGs of the train split's licence-compatible renderings take 25 MB alone on the real
# corpus; a 256-colour palette (with alpha) halves that at a mean error of about 1 level in 255,
# which an img2img start at strength 0.6 does not see.
DEFAULT_COLORS = 256

# Sentence vectors ``[B, D]`` (unit length) for texts: MiniLM in production, a stub in tests.
EmbedFn = Callable[[Sequence[str]], NDArray[np.float32]]


class ReferenceIndexError(PMGError):
    """A reference index is missing, malformed or cannot be built as asked."""


class ReferenceIndexTooLargeError(ReferenceIndexError, ValueError):
    """The index would be larger than its byte cap."""


@dataclass(frozen=True)
class SetLicence:
    """How the renderings of one style may be redistributed."""

    licence: str
    url: str
    attribution: str
    share_alike: bool = False


_TWEMOJI = SetLicence(
    licence="CC-BY-4.0",
    url="https://creativecommons.org/licenses/by/4.0/",
    attribution=(
        "Twemoji graphics Copyright 2014-2021 Twitter, Inc and other contributors; "
        "2022-present Jason Sofonia & Justine De Caires and other contributors. "
        "Licensed under CC BY 4.0."
    ),
)
_FLUENT = SetLicence(
    licence="MIT",
    url="https://github.com/microsoft/fluentui-emoji/blob/main/LICENSE",
    attribution="Fluent Emoji Copyright (c) Microsoft Corporation. Licensed under MIT.",
)
_NOTO = SetLicence(
    licence="OFL-1.1 (font), Apache-2.0 (sources)",
    url="https://github.com/googlefonts/noto-emoji",
    attribution=(
        "Noto Color Emoji Copyright 2013-2017 Google Inc., Arjen Nienhuis. Font under the SIL "
        "Open Font License 1.1; renderings of it are not the font."
    ),
)
_OPENMOJI = SetLicence(
    licence="CC-BY-SA-4.0",
    url="https://creativecommons.org/licenses/by-sa/4.0/",
    attribution=(
        "All emojis designed by OpenMoji - the open-source emoji and icon project. "
        "License: CC BY-SA 4.0."
    ),
    share_alike=True,
)
# Styles of the corpus (pmg_engine/corpus/sources.py) and their terms (THIRD_PARTY_NOTICES.md).
LICENCES: dict[str, SetLicence] = {
    "twemoji": _TWEMOJI,
    "fluent-color": _FLUENT,
    "fluent-flat": _FLUENT,
    "fluent-high-contrast": _FLUENT,
    "noto": _NOTO,
    "openmoji": _OPENMOJI,
    "openmoji-black": _OPENMOJI,
}
# OpenMoji is share-alike: shipping its thumbnails inside an MIT repository would put that part
# under CC BY-SA, so the default index leaves it out ("licence-compatible").
DEFAULT_STYLES: tuple[str, ...] = tuple(s for s, lic in LICENCES.items() if not lic.share_alike)


def unit_rows(vectors: Any) -> NDArray[np.float32]:
    """Return ``vectors`` (array or tensor) as float32 rows of unit length."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"embeddings must be [B, D], got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: NDArray[np.float32] = array / np.maximum(norms, 1e-12)
    return unit


def minilm_embedder(*, device: str = "cpu") -> EmbedFn:
    """Load all-MiniLM-L6-v2 from the installed wheel (offline) and return its sentence vectors."""
    from pmg_engine.models.minilm import MiniLM

    encoder = MiniLM.load(device=device)

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        return unit_rows(encoder.encode_sentences(list(texts)).numpy())

    return embed
