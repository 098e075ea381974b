"""Synonym merge: one keyword per thing, shown as the user wrote it most often."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from pmg_engine.behaviours import message_events
from pmg_engine.keywords import PreferenceKeywordExtractor
from pmg_engine.keywords.candidates import extract_candidates
from pmg_engine.keywords.merge import MiniLMPhraseEncoder, SynonymMerger

# Hand-made unit vectors: the cat words point one way, dogs and pastel other ways.
VECTORS = {
    "cat": [1.0, 0.0, 0.0],
    "kitty": [0.95, 0.31, 0.0],
    "cats": [1.0, 0.0, 0.0],
    "dog": [0.0, 1.0, 0.0],
    "pastel": [0.0, 0.0, 1.0],
    "pastel pink": [0.0, 0.2, 0.98],
}


def fake_encode(phrases: Sequence[str]) -> torch.Tensor:
    """The hand-made vectors; any other phrase gets its own axis, far from everything."""
    rows = []
    for phrase in phrases:
        row = [*VECTORS.get(phrase, [0.0, 0.0, 0.0]), *([0.0] * 32)]
        if phrase not in VECTORS:
            row[3 + sum(map(ord, phrase)) % 32] = 1.0
        rows.append(row)
    return torch.nn.functional.normalize(torch.tensor(rows), dim=-1)


def lines(*messages: str) -> list[str]:
    return [e.text for m in messages for e in message_events(m)]


def test_close_candidates_merge_and_show_the_most_frequent_form() -> None:
    """cat, cats and kitties are one keyword, written as the user wrote it most often."""
    found = extract_candidates(lines("my kitties are asleep", "cats!", "a cat again", "dog"))
    merged = SynonymMerger(fake_encode, threshold=0.9).merge(found.ranked)
    keywords = [c.keyword for c in merged]
    assert keywords[0] in {"cat", "cats"}
    assert "kitties" not in keywords
    assert merged[0].count == 3
    assert "dog" in keywords


def test_a_phrase_never_merges_with_its_own_word() -> None:
    """ "pastel pink" and "pastel" are one mention, so their scores are not added up."""
    found = extract_candidates(lines("pastel pink walls"))
    merged = SynonymMerger(fake_encode, threshold=0.5).merge(
        [c for c in found.ranked if c.keyword in VECTORS]
    )
    assert sorted(c.keyword for c in merged) == ["pastel", "pastel pink"]


def test_a_failing_encoder_leaves_the_candidates_unmerged() -> None:
    """Keywords still come when the encoder raises."""

    def broken(phrases: Sequence[str]) -> torch.Tensor:
        raise RuntimeError("no encoder")

    extractor = PreferenceKeywordExtractor(None, merger=SynonymMerger(broken))
    assert extractor.extract(lines=lines("cats and frogs")).keywords


def test_threshold_is_validated() -> None:
    """A threshold outside (0, 1] is refused with the value shown."""
    with pytest.raises(ValueError, match=r"1\.5"):
        SynonymMerger(fake_encode, threshold=1.5)


def test_minilm_joins_real_synonyms() -> None:
    """With the shipped MiniLM, cat and kitties merge; cat and dog stay apart."""
    encode = MiniLMPhraseEncoder()
    vectors = encode(["cat", "kitties", "dog"])
    assert vectors.shape == (3, 384)
    found = extract_candidates(lines("my kitties", "a cat", "dog"))
    keywords = [c.keyword for c in SynonymMerger(encode).merge(found.ranked)]
    assert "dog" in keywords
    assert len({"cat", "kitties"} & set(keywords)) == 1
