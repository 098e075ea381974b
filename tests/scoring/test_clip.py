"""ClipScorer on a tiny random CLIP: shapes, ranges, transparency, and missing models."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pmg_engine.scoring import ClipScorer, Scorer, ScorerNotFoundError


@pytest.fixture(scope="module")
def scorer(tiny_clip_dir: Path) -> ClipScorer:
    """Load the tiny CLIP from its folder, on the CPU."""
    return ClipScorer.from_pretrained(tiny_clip_dir, device="cpu", batch_size=2)


def _pictures() -> list[Image.Image]:
    red = Image.new("RGB", (48, 40), (220, 20, 20))
    blue = Image.new("RGB", (64, 64), (20, 20, 220))
    stripes = Image.new("RGB", (40, 40), "white")
    ImageDraw.Draw(stripes).rectangle((0, 0, 19, 39), fill="black")
    return [red, blue, stripes]


def test_similarity_has_one_row_per_image_and_one_column_per_text(scorer: ClipScorer) -> None:
    """Three images against two texts give a [3, 2] float32 array of cosines in [-1, 1]."""
    similarities = scorer.image_text_similarity(_pictures(), ["a red cat", "pastel, kawaii"])
    assert isinstance(scorer, Scorer)
    assert similarities.shape == (3, 2)
    assert similarities.dtype == np.float32
    assert np.isfinite(similarities).all()
    assert (np.abs(similarities) <= 1.0).all()
    assert np.ptp(similarities) > 0, "a random CLIP still tells different inputs apart"


def test_batching_and_repeats_do_not_change_scores(scorer: ClipScorer) -> None:
    """Scores do not depend on batch boundaries or on being asked twice."""
    texts = ["a red cat", "a blue dog", "stripes"]
    together = scorer.image_text_similarity(_pictures(), texts)
    one_by_one = np.vstack([scorer.image_text_similarity([image], texts) for image in _pictures()])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_rgba_is_scored_as_composited_on_white(scorer: ClipScorer) -> None:
    """A transparent-background image scores like the same picture on white."""
    pixels = np.zeros((40, 40, 4), dtype=np.uint8)
    pixels[10:30, 10:30] = (220, 20, 20, 255)
    rgba = Image.fromarray(pixels, "RGBA")
    on_white = Image.new("RGB", (40, 40), "white")
    on_white.paste((220, 20, 20), (10, 10, 30, 30))
    texts = ["a red square"]
    np.testing.assert_allclose(
        scorer.image_text_similarity([rgba], texts),
        scorer.image_text_similarity([on_white], texts),
        atol=1e-6,
    )


def test_texts_longer_than_the_window_are_truncated(scorer: ClipScorer) -> None:
    """A preference text longer than CLIP's context window still scores."""
    similarities = scorer.image_text_similarity(_pictures()[:1], ["pastel, " * 100])
    assert similarities.shape == (1, 1)


def test_empty_inputs_are_rejected(scorer: ClipScorer) -> None:
    """No images or no texts is a caller error, not an empty array."""
    with pytest.raises(ValueError, match="texts"):
        scorer.image_text_similarity(_pictures(), [])
    with pytest.raises(ValueError, match="images"):
        scorer.image_text_similarity([], ["a cat"])


def test_missing_folder_says_how_to_configure_a_model(tmp_path: Path) -> None:
    """A path with no model raises ScorerNotFoundError (a FileNotFoundError) with the fix."""
    with pytest.raises(ScorerNotFoundError, match="PMG_GENERATOR__SCORER") as caught:
        ClipScorer.from_pretrained(tmp_path / "no" / "such" / "clip", device="cpu")
    assert isinstance(caught.value, FileNotFoundError)


def test_empty_folder_is_not_a_model(tmp_path: Path) -> None:
    """An existing folder without model files is reported as incomplete."""
    with pytest.raises(ScorerNotFoundError, match="not a complete CLIP model folder"):
        ClipScorer.from_pretrained(tmp_path, device="cpu")


def test_uncached_hub_id_is_not_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id absent from the local cache fails without opening a connection."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(ScorerNotFoundError, match="nor in the Hugging Face cache"):
        ClipScorer.from_pretrained("pmg-tests/clip-that-does-not-exist", device="cpu")
    assert attempts == []
