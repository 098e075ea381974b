"""Parsing keyword lists out of whatever a chat model wrote."""

from __future__ import annotations

import pytest

from pmg_engine.keywords import parse_keywords, parse_target_fields


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. cats\n2. pastel pink\n3. neon", ["cats", "pastel pink", "neon"]),
        ("The keywords are: 1. Cats 2. Pastel pink 3. Neon.", ["cats", "pastel pink", "neon"]),
        ("cats, pastel pink, neon", ["cats", "pastel pink", "neon"]),
        ('["cats", "pastel pink", "neon"]', ["cats", "pastel pink", "neon"]),
        ('Sure! {"keywords": ["cats", "neon"]} Hope that helps', ["cats", "neon"]),
        ("- cats\n* pastel pink\n• neon", ["cats", "pastel pink", "neon"]),
        ("Keywords: watercolor; forests; calm", ["watercolor", "forests", "calm"]),
    ],
)
def test_shapes_of_answers(text: str, expected: list[str]) -> None:
    """Numbered, inline-numbered, comma, JSON, bullet and preamble answers all parse."""
    assert parse_keywords(text) == expected


def test_filler_duplicates_and_long_phrases_are_dropped() -> None:
    """Filler words, plural duplicates and sentence-long items never become keywords."""
    text = (
        "1. went\n2. cats\n3. cat\n4. Cats\n5. she\n6. the person likes to paint big murals\n7. 42"
    )
    assert parse_keywords(text) == ["cats"]


def test_garbage_gives_an_empty_list() -> None:
    """Output with no usable keyword parses to an empty list, not an error."""
    assert parse_keywords("") == []
    assert parse_keywords("!!! ??? ...") == []
    assert parse_keywords("{[!!") == []


def test_limit() -> None:
    """At most `limit` keywords come back, in order."""
    assert parse_keywords("a1 cats, dogs, birds, fish", limit=2) == ["a1 cats", "dogs"]


def test_target_fields() -> None:
    """Emotion, expression and posture fields are read in any order and case."""
    fields = parse_target_fields("posture: Arms Raised; Emotion: Joy; Expression: big smile;")
    assert fields == {"posture": "arms raised", "emotion": "joy", "expression": "big smile"}
    assert parse_target_fields("I feel great") == {}


def test_filler_inside_a_phrase_is_dropped() -> None:
    """Filler words inside a multi-word keyword are removed, keeping the content words."""
    assert parse_keywords("1. favourite anime totoro\n2. really cute cats") == [
        "anime totoro",
        "cute cats",
    ]
