"""Payloads discord.py cannot parse are logged and dropped; the bot keeps answering."""

from __future__ import annotations

import logging

import pytest

from tests.bot.harness import Harness, p
from tests.bot.support import ALICE, CHAT_REPLY


async def test_an_unparsable_message_is_dropped_and_the_next_one_answered(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A MESSAGE_CREATE without an author is logged by shape only; the bot answers the next."""
    parsers = harness.client._connection.parsers
    broken = {
        "id": str(harness.snowflakes.at(harness.clock.now())),
        "channel_id": str(p.CHANNEL_ID),
        "content": "my secret diary",
        "guild_id": str(p.GUILD_ID),
    }
    with caplog.at_level(logging.ERROR, logger="bot.gateway"):
        parsers["MESSAGE_CREATE"](broken)  # what the gateway's reading loop calls
    (record,) = [r for r in caplog.records if r.name == "bot.gateway"]
    assert record.getMessage().startswith("dropped a MESSAGE_CREATE payload that could not be")
    assert "my secret diary" not in record.getMessage()
    message = await harness.say("I love cats", ALICE, dm=True)
    (reply,) = harness.replies_to(message)
    assert reply["content"].startswith(CHAT_REPLY)


async def test_every_parser_is_guarded_once(harness: Harness) -> None:
    """Each gateway event's parser is wrapped exactly once, even when guarded again."""
    from bot.gateway import guard_parsers

    state = harness.client._connection
    guard_parsers(state)  # a second call must not wrap twice
    assert state.parsers
    for parse in state.parsers.values():
        assert getattr(parse, "__pmg_guarded__", False)
        assert not getattr(parse.__wrapped__, "__pmg_guarded__", False)
