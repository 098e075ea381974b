"""One error path: expected errors are one ephemeral sentence, the rest a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.errors import GENERIC
from tests.bot.harness import Harness, p
from tests.bot.support import ALICE, PROMPT, generations


def sent_text(harness: Harness) -> str:
    """Everything the bot sent to Discord, as one string."""
    return " ".join(str(call.json) for call in harness.recorder.calls)


async def test_unexpected_error_in_a_command_is_logged_not_shown(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug behind /prefs show gives one generic sentence; the log has command, user, guild."""
    await harness.say("I love cats", ALICE, dm=True)

    async def broken(*, user_id: int) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(harness.service, "update_profile", broken)
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        shown = await harness.slash("prefs show", ALICE)
    assert shown.ephemeral_text() == GENERIC
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert record.getMessage() == (
        f"unexpected error in /prefs show for user {ALICE.id} in guild {p.GUILD_ID}"
    )
    assert record.exc_info is not None
    assert "secret internals" not in sent_text(harness)
    assert "Traceback" not in sent_text(harness)


async def test_unexpected_error_in_a_button_takes_the_same_path(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug behind 👍 is answered with the generic sentence and logged with the custom_id."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)

    async def broken(**_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(harness.service, "record_feedback", broken)
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        pressed = await harness.press(message, f"pmg:like:{row.id}", ALICE)
    assert pressed.ephemeral_text() == GENERIC
    # Only the error path's own record: other tests may have left the root logger at INFO.
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert record.getMessage() == (
        f"unexpected error in component pmg:like:{row.id} for user {ALICE.id} in guild {p.GUILD_ID}"
    )
    assert "secret internals" not in sent_text(harness)


async def test_unknown_command_asks_to_retry(harness: Harness) -> None:
    """A command the bot does not know (an outdated client) gets one sentence."""
    dispatched = await harness.slash("paint", ALICE, raw_options=[])
    assert dispatched.ephemeral_text() == (
        "This command changed since your app loaded it; try again in a minute."
    )


async def test_refusal_after_a_deferred_ephemeral_answer_is_a_followup(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An expected error after an ephemeral defer becomes an ephemeral follow-up."""
    await harness.say("I love cats", ALICE, dm=True)

    async def refuse(*, user_id: int) -> None:
        from pmg_engine.errors import InvalidInputError

        raise InvalidInputError("the profile cannot be updated now")

    monkeypatch.setattr(harness.service, "update_profile", refuse)
    shown = await harness.slash("prefs show", ALICE)
    (followup,) = shown.followups()
    assert followup.json["content"] == "The profile cannot be updated now."
    assert followup.json["flags"] == p.EPHEMERAL


def _partial(harness: Harness, *, kind: int, data: dict[str, object], dm: bool) -> dict[str, Any]:
    """An interaction payload without its member / user (and, with ``dm``, without a guild)."""
    channel = p.dm_channel(p.CHANNEL_ID + 1, ALICE.payload) if dm else p.text_channel(p.CHANNEL_ID)
    payload = p.interaction(
        interaction_id=harness.snowflakes.at(harness.clock.now()),
        kind=kind,
        data=data,
        invoker=ALICE.payload,
        channel=channel,
        guild_id=None if dm else p.GUILD_ID,
    )
    payload.pop("member", None)
    payload.pop("user", None)
    return payload


async def test_a_command_without_a_user_still_gets_one_sentence(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """/prefs show from a payload with no member: the generic sentence, a log line, no crash."""
    payload = _partial(
        harness,
        kind=2,
        data={
            "id": str(harness.snowflakes.at(harness.clock.now())),
            "name": "prefs",
            "type": 1,
            "options": [{"name": "show", "type": 1, "options": []}],
        },
        dm=False,
    )
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        shown = await harness._interact(payload, wait=True)
    assert GENERIC in sent_text(harness)
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert record.getMessage() == (
        f"unexpected error in /prefs show for user None in guild {p.GUILD_ID}"
    )
    assert shown.callback().json["type"] in {4, 5}


async def test_report_error_on_an_interaction_with_no_user_guild_or_command(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A component payload with no user, no guild and no command is answered and logged."""
    import discord

    from bot.errors import report_error

    payload = _partial(
        harness, kind=3, data={"custom_id": "pmg:gone:1", "component_type": 2}, dm=True
    )
    harness.recorder.register(payload)
    interaction = discord.Interaction(data=payload, state=harness.client._connection)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await report_error(interaction, RuntimeError("secret internals"))
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert record.getMessage() == (
        "unexpected error in component pmg:gone:1 for user None in guild None"
    )
    answer = harness.recorder.callback(payload["token"]).json
    assert answer["data"]["content"] == GENERIC
    assert "secret internals" not in sent_text(harness)
