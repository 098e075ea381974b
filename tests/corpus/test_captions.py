"""Concept keys and captions from emojibase data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmg_engine.corpus.captions import build_caption, concept_key, load_concepts


@pytest.mark.parametrize(
    ("hexcode", "key"),
    [
        ("1f600", "1F600"),
        ("1F44D-1F3FB", "1F44D"),
        ("2764-fe0f", "2764"),
        ("1F441-FE0F-200D-1F5E8-FE0F", "1F441-200D-1F5E8"),
        ("00a9", "00A9"),
        ("a9-fe0f", "00A9"),
    ],
)
def test_concept_key_drops_selectors_and_skin_tones(hexcode: str, key: str) -> None:
    """Every set's spelling of one emoji maps to one upper-case key without selectors."""
    assert concept_key(hexcode) == key


def test_caption_joins_label_and_new_tags() -> None:
    """The caption is the label then the tags, lower-cased, without repeats or blanks."""
    tags = ["face", "grin", "Grinning  Face", "", "face", "happy"]
    assert build_caption("Grinning face", tags) == "grinning face, face, grin, happy"


def test_load_concepts_keeps_base_emoji_only(tmp_path: Path) -> None:
    """Skin-tone variants, components and group-less entries are not concepts."""
    (tmp_path / "en").mkdir()
    (tmp_path / "meta").mkdir()
    meta = {"groups": {"1": "people-body", "2": "component"}, "subgroups": {"19": "hand-fingers"}}
    (tmp_path / "meta" / "groups.json").write_text(json.dumps(meta))
    data = [
        {"label": "regional indicator A", "hexcode": "1F1E6", "emoji": "A", "type": 1},
        {"label": "light skin tone", "hexcode": "1F3FB", "emoji": "s", "group": 2, "order": 9},
        {
            "label": "thumbs up",
            "hexcode": "1F44D",
            "emoji": "t",
            "tags": ["good", "thumb"],
            "group": 1,
            "subgroup": 19,
            "order": 3,
            "skins": [{"label": "thumbs up: light", "hexcode": "1F44D-1F3FB", "emoji": "tt"}],
        },
    ]
    (tmp_path / "en" / "data.json").write_text(json.dumps(data))
    [concept] = load_concepts(tmp_path)
    assert (concept.key, concept.group, concept.subgroup) == (
        "1F44D",
        "people-body",
        "hand-fingers",
    )
    assert concept.caption == "thumbs up, good, thumb"
