"""Chat through ``on_message`` with real ``discord.Message`` objects built from payloads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pmg_engine.db import repo
from pmg_engine.db.models import Behaviour, Message
from tests.bot.harness import Harness, p
from tests.bot.support import ADA, ALICE, BOB, CHAT_REPLY, button_ids, generations
from tests.fakes import RecordingChatModel


async def stored_messages(harness: Harness, user_id: int) -> list[tuple[str, str]]:
    async with harness.service.sessions() as session:
        rows = await repo.recent_messages(session=session, user_id=user_id, limit=100)
    return [(m.role, m.content) for m in rows]


async def test_dm_is_answered_and_both_sides_are_stored(harness: Harness) -> None:
    """A DM gets a reply; both turns are stored; the first reply carries the privacy notice."""
    first = await harness.say("I love cats and pastel colours", ALICE, dm=True)
    (reply,) = harness.replies_to(first)
    assert reply["content"].startswith(CHAT_REPLY + "\n\n🔒 ")
    assert "/prefs show" in reply["content"]
    assert "/prefs export" in reply["content"]
    assert "/prefs forget" in reply["content"]
    second = await harness.say("watercolor forests too", ALICE, dm=True)
    (again,) = harness.replies_to(second)
    assert again["content"] == CHAT_REPLY  # the notice comes once
    assert await stored_messages(harness, ALICE.id) == [
        ("user", "I love cats and pastel colours"),
        ("assistant", CHAT_REPLY),
        ("user", "watercolor forests too"),
        ("assistant", CHAT_REPLY),
    ]
    async with harness.service.sessions() as session:
        message = await session.scalar(select(Message).where(Message.role == "user"))
        assert message is not None
        assert message.discord_message_id == int(first["id"])
        assert message.guild_id is None


async def test_reply_uses_a_short_window_and_the_users_keywords(
    harness: Harness, chat_model: RecordingChatModel
) -> None:
    """The chat model sees the recent turns and the user's pinned keywords."""
    await harness.slash("prefs pin", ALICE, {"keyword": "dragons"})
    await harness.say("hello there", ALICE, dm=True)
    prompt = chat_model.calls[-1]
    assert "dragons" in prompt[0].content
    assert prompt[-1].content == "hello there"


async def test_guild_message_needs_a_mention(harness: Harness) -> None:
    """In a server the bot ignores plain messages and answers mentions, without the mention."""
    plain = await harness.say("just talking", ALICE)
    assert harness.replies_to(plain) == []
    mentioned = await harness.say("draw me something", ALICE, mention_bot=True)
    (reply,) = harness.replies_to(mentioned)
    assert reply["content"].startswith(CHAT_REPLY)
    assert reply["allowed_mentions"]["replied_user"] is False
    assert await stored_messages(harness, ALICE.id) == [
        ("user", "draw me something"),
        ("assistant", CHAT_REPLY),
    ]


async def test_bare_mention_gets_a_greeting_and_stores_nothing(harness: Harness) -> None:
    """A mention with no text is greeted and nothing is stored."""
    message = await harness.say("", ALICE, mention_bot=True)
    (reply,) = harness.replies_to(message)
    assert "/sticker" in reply["content"]
    assert await stored_messages(harness, ALICE.id) == []


async def test_admin_enabled_channel_is_answered_without_mention(harness: Harness) -> None:
    """After /admin chat-enable every message in the channel is answered; disable stops it."""
    enabled = await harness.slash("admin chat-enable", ADA)
    assert enabled.ephemeral_text() == f"I'll now answer every message in <#{p.CHANNEL_ID}>."
    message = await harness.say("hello channel", ALICE)
    assert len(harness.replies_to(message)) == 1
    other = await harness.say("elsewhere", ALICE, channel_id=p.OTHER_CHANNEL_ID)
    assert harness.replies_to(other) == []
    disabled = await harness.slash("admin chat-disable", ADA)
    assert disabled.ephemeral_text() == f"I'll only answer mentions in <#{p.CHANNEL_ID}>."
    after = await harness.say("hello again", ALICE)
    assert harness.replies_to(after) == []


async def test_bots_are_ignored(harness: Harness) -> None:
    """Messages from bots are never answered nor stored."""
    message = await harness.say("beep", BOB, dm=True, author_bot=True)
    assert harness.replies_to(message) == []
    assert await stored_messages(harness, BOB.id) == []


@pytest.mark.discord_settings(learning_opt_in_default=False)
async def test_opted_out_user_is_answered_but_not_learned_from(harness: Harness) -> None:
    """Without opt-in the message is answered and stored, but no behaviour is recorded."""
    message = await harness.say("I love cats", ALICE, dm=True)
    (reply,) = harness.replies_to(message)
    assert "learning is off" in reply["content"]
    assert "/prefs learning on" in reply["content"]
    async with harness.service.sessions() as session:
        behaviours = (await session.scalars(select(Behaviour))).all()
    assert behaviours == []


async def test_mood_offer_draws_a_sticker_for_the_conversation(harness: Harness) -> None:
    """A message with a mood gets a 🎨 offer; pressing it draws a sticker from the chat."""
    message = await harness.say("I'm so happy today 😄", ALICE, dm=True)
    (reply,) = harness.replies_to(message)
    assert button_ids(reply) == [f"pmg:mood:{ALICE.id}"]
    (stored,) = harness.recorder.channel_messages(int(message["channel_id"]))
    pressed = await harness.press(stored, f"pmg:mood:{ALICE.id}", ALICE, dm=True)
    result = pressed.original()
    assert result["embeds"][0]["title"] == "A sticker for our chat"
    (row,) = await generations(harness.service.sessions)
    assert (row.prompt, row.kind, row.status) == ("", "sticker", "done")


async def test_mood_offer_is_only_for_the_person_it_was_made_for(harness: Harness) -> None:
    """Someone else pressing the 🎨 offer is refused ephemerally."""
    message = await harness.say("this is so sad 😢", ALICE, mention_bot=True)
    (stored,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    pressed = await harness.press(stored, f"pmg:mood:{ALICE.id}", BOB)
    assert pressed.ephemeral_text() == (
        "This offer is for someone else; chat with me to get your own."
    )
    assert harness.replies_to(message)


async def test_neutral_message_gets_no_offer(harness: Harness) -> None:
    """A message without a mood gets a plain reply, no button."""
    message = await harness.say("the meeting is at noon", ALICE, dm=True)
    (reply,) = harness.replies_to(message)
    assert "components" not in reply or reply["components"] == []
