"""Hostile text from Discord: the same cleaning as the terminal and the service, no crash."""

from __future__ import annotations

from sqlalchemy import select

from pmg_engine.db import repo
from pmg_engine.db.models import KeywordRule, Message
from tests.bot.harness import Harness
from tests.bot.support import ALICE, CHAT_REPLY, generations


async def test_message_pin_and_sticker_with_nul_and_bidi(harness: Harness) -> None:
    """A NUL and an RTL override in a message, a pin and a prompt are cleaned and answered."""
    said = await harness.say("I love \x00cats\u202e", ALICE, dm=True)
    (reply,) = harness.replies_to(said)
    assert reply["content"].startswith(CHAT_REPLY)
    pinned = await harness.slash("prefs pin", ALICE, {"keyword": "pas\x00tel\u202e"})
    assert pinned.ephemeral_text() == "Pinned “pastel”: it goes into every picture."
    _, message = await harness.draw(ALICE, "a c\x00at\u202e", dm=True)
    assert message["embeds"][0]["title"] == "“a cat”"
    (row,) = await generations(harness.service.sessions)
    assert row.prompt == "a cat"
    async with harness.service.sessions() as session:
        texts = (await session.scalars(select(Message.content).where(Message.role == "user"))).all()
        rules = (await session.scalars(select(KeywordRule.keyword))).all()
    assert list(texts) == ["I love cats"]
    assert list(rules) == ["pastel"]


async def test_a_message_cut_to_the_limit_is_said_so(harness: Harness) -> None:
    """A message longer than the stored limit is answered with a line saying it was cut."""
    said = await harness.say("cats " * 1000, ALICE, dm=True)
    (reply,) = harness.replies_to(said)
    assert "kept only its first 4000 characters" in reply["content"]


async def test_weight_minus_zero_reads_zero(harness: Harness) -> None:
    """/prefs weight -0 answers 0.00, never -0.00, and stores 0."""
    answer = await harness.slash("prefs weight", ALICE, {"value": -0.0})
    assert (
        answer.ephemeral_text() == "Your taste now counts 0.00 (0 ignores it, 1 is all about it)."
    )
    async with harness.service.sessions() as session:
        settings = await repo.get_settings(session=session, user_id=ALICE.id)
    assert str(settings.personalization_weight) == "0.0"
