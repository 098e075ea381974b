"""Behaviours as natural-language lines."""

from __future__ import annotations

from pmg_engine.behaviours import (
    emoji_names,
    feedback_event,
    format_history,
    message_events,
    sticker_request_event,
)


def test_emoji_names_skip_modifiers_and_repeats() -> None:
    """Emoji become their Unicode names; skin tones, joiners and repeats are skipped."""
    assert emoji_names("hi 🐱🐱 ☕ 👍🏽 👩‍💻") == [
        "cat face",
        "hot beverage",
        "thumbs up sign",
        "woman",
        "personal computer",
    ]
    assert emoji_names("plain text, © and → arrows only") == []


def test_message_events_describe_text_and_emoji() -> None:
    """A message gives one message line and one line per distinct emoji."""
    events = message_events("I love cats 🐱")
    assert [e.kind for e in events] == ["message", "emoji"]
    assert events[0].text == 'User said: "I love cats 🐱"'
    assert events[1].text == "User used the emoji cat face"


def test_long_messages_are_clipped() -> None:
    """A huge message becomes a bounded line."""
    event = message_events("cats " * 10_000)[0]
    assert len(event.text) < 400
    assert event.text.endswith('…"')


def test_request_and_feedback_lines() -> None:
    """Requests and votes read as plain English with what was shown."""
    assert sticker_request_event("a cat").text == 'User asked for a sticker of "a cat"'
    event = feedback_event(prompt="a cat", liked=False, keywords=["pastel", "cats"])
    assert event.text == 'User disliked a sticker of "a cat" with pastel, cats'
    assert event.data["liked"] is False


def test_format_history_numbers_from_one() -> None:
    """Lines are numbered from 1 after the previously learned keywords."""
    text = format_history(["a", "b"], previous_keywords=["cats"])
    assert text == "Previously learned keywords: cats\n1. a\n2. b"
