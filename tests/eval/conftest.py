"""A synthetic corpus, a fake scorer that reads answers off the pixels, and tiny real models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmg_engine.corpus import CorpusItem, load_manifest
from pmg_engine.corpus.fingerprint import corpus_fingerprint
from pmg_engine.eval._prompts import make_eval_set
from pmg_engine.eval.evalset import EvalSet, load_eval_set, write_eval_set
from tests.reference.synthetic import CONCEPTS, STYLES, decode_colour, write_corpus


class PixelScorer:
    """Knows the answer: images map to their concept's one-hot, texts to the concept they name."""

    styles = STYLES

    @staticmethod
    def _centre(image: Image.Image) -> tuple[int, int]:
        rgba = image.convert("RGBA")
        return decode_colour(rgba.getpixel((rgba.width // 2, rgba.height // 2))[:3])

    def embed_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """One-hot of each image's concept."""
        concepts = torch.tensor([self._centre(image)[0] for image in images])
        return torch.nn.functional.one_hot(concepts, len(CONCEPTS)).float()

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """One-hot of the concept whose caption starts the text."""
        index = [next(i for i, c in enumerate(CONCEPTS) if t.startswith(c[2])) for t in texts]
        return torch.nn.functional.one_hot(torch.tensor(index), len(CONCEPTS)).float()

    def classify_styles(self, images: Sequence[Image.Image]) -> list[str]:
        """The style encoded in each image's colour."""
        return [STYLES[self._centre(image)[1]] for image in images]


class RandomScorer(PixelScorer):
    """Random unit vectors for everything: the figures it gets are chance."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def _random(self, count: int) -> torch.Tensor:
        vectors = torch.from_numpy(self.rng.normal(size=(count, 16))).float()
        return torch.nn.functional.normalize(vectors, dim=-1)

    def embed_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Random vectors, one per image."""
        return self._random(len(images))

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Random vectors, one per text."""
        return self._random(len(texts))


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic corpus folder (renderings + manifest.jsonl)."""
    return write_corpus(tmp_path_factory.mktemp("corpus")).parent


@pytest.fixture(scope="session")
def items(corpus_dir: Path) -> list[CorpusItem]:
    """The synthetic corpus's items."""
    return load_manifest(corpus_dir / "manifest.jsonl")


@pytest.fixture(scope="session")
def eval_set_path(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """An evaluation set of all 8 held-out prompts of the synthetic corpus, one distractor each."""
    items = load_manifest(corpus_dir / "manifest.jsonl")
    data = make_eval_set(
        items,
        version=1,
        made_on_corpus=corpus_fingerprint(corpus_dir, items),
        prompts=8,
        num_distractors=1,
    )
    path = tmp_path_factory.mktemp("sets") / "set-v1.json"
    write_eval_set(path, data)
    return path


@pytest.fixture(scope="session")
def eval_set(eval_set_path: Path) -> EvalSet:
    """The synthetic evaluation set, loaded."""
    return load_eval_set(eval_set_path)
