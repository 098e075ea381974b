"""One mood rule: the bot's 🎨 offer and the chat sticker's target read the same emotion."""

from __future__ import annotations

import pytest

from pmg_engine.keywords import TargetKeywordExtractor, mood_of
from pmg_engine.keywords.mood import NEUTRAL_MOOD


@pytest.mark.parametrize(
    ("text", "mood"),
    [
        ("yesss we won, best party ever", "joy"),
        ("so tired and sleepy, I need to sleep", "tiredness"),
        ("😄", "joy"),  # grinning face with smiling eyes
        ("😡", "anger"),  # pouting face
        ("😂", "joy"),  # face with tears of joy: "tears" is also sad, "joy" decides
        ("sad sad sad but haha", "sadness"),  # the emotion with the most cues wins
        ("the meeting is at noon", None),
        ("", None),
    ],
)
def test_mood_is_the_emotion_with_the_most_cues(text: str, mood: str | None) -> None:
    """Words and emoji names count as cues; the emotion with the most wins, none is None."""
    assert mood_of(text) == mood


def test_a_tie_goes_to_the_emotion_listed_first() -> None:
    """ "love" is a cue of joy and of love: one of each is a tie, and joy is listed first."""
    assert mood_of("love") == "joy"
    assert mood_of("love hug") == "love"


@pytest.mark.parametrize("text", ["😄 see you", "so sad today 😢", "wow omg", "lunch at noon"])
def test_the_chat_sticker_target_uses_the_same_rule(text: str) -> None:
    """Without a model the chat sticker's emotion is the mood of its last turns, else calm."""
    result = TargetKeywordExtractor(None).from_conversation([("User", text)])
    assert result.keywords[0] == (mood_of(text) or NEUTRAL_MOOD)
