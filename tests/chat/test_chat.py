"""The chat reply chain."""

from __future__ import annotations

from pmg_engine.chat import ChatReplier, tidy_reply
from tests.fakes import RecordingChatModel


def test_looping_replies_are_cut_to_distinct_sentences() -> None:
    """A reply that repeats itself keeps each sentence once, at most two."""
    looping = "So glad you love cats! " * 6 + "Want a sticker? Here. More. Even more."
    assert tidy_reply(looping) == "So glad you love cats! Want a sticker?"


def test_reply_sees_the_window_and_keywords() -> None:
    """The model gets the last turns and the user's keywords; the answer is tidied."""
    model = RecordingChatModel(responses=["Cute! Cute! Want a pastel cat sticker?"])
    reply = ChatReplier(model, window=2).reply(
        turns=[("user", "old"), ("assistant", "hi"), ("user", "I love cats")],
        keywords=["pastel colours"],
    )
    assert reply == "Cute! Want a pastel cat sticker?"
    system, *history = model.calls[0]
    assert "pastel colours" in str(system.content)
    assert [str(m.content) for m in history] == ["hi", "I love cats"]


def test_failing_or_missing_model_replies_plainly() -> None:
    """Without a model, or when it fails, the user still gets an answer."""
    assert "cats" in ChatReplier(None).reply(turns=[("user", "x")], keywords=["cats"])
    broken = RecordingChatModel(responses=["x"], fail=True)
    assert ChatReplier(broken).reply(turns=[("user", "x")], keywords=[]).startswith("Noted!")


def test_a_reply_cut_by_the_token_cap_ends_on_a_whole_sentence() -> None:
    """A trailing fragment is dropped when a whole sentence comes before it."""
    assert tidy_reply("Cats are great! I could draw one in pastel") == "Cats are great!"
    assert tidy_reply("I could draw one in pastel") == "I could draw one in pastel"
