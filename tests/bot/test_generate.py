"""``/sticker`` and ``/image``: defer, progress, result, refusals, limits, late delivery."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta

import pytest
from PIL import Image

from bot.exts.generate._jobs import REFUSED_OUTPUT
from bot.safety import Verdict
from pmg_engine.queue import QueueUnavailable
from pmg_engine.service import GenerationResult
from tests.bot.harness import Call, Harness, p
from tests.bot.support import (
    ALICE,
    BOB,
    PROMPT,
    GatedGenerator,
    button_ids,
    embed_fields,
    generations,
)


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_sticker_defers_shows_progress_and_posts_the_result(harness: Harness) -> None:
    """/sticker defers publicly, edits its progress, then posts the sticker with its request."""
    dispatched, message = await harness.draw(ALICE, PROMPT)
    assert dispatched.callback().json == {"type": 5}
    edits = [
        c.json.get("content")
        for c in harness.recorder.for_token(dispatched.token)
        if c.method == "PATCH"
    ]
    assert edits[0] == "⏳ Starting…"
    assert "🎨 Drawing… step 2/2" in edits
    assert edits[-1] is None  # the final edit clears the progress line
    fields = embed_fields(message)
    assert fields["Drawn from"] == "cat, drinking, coffee"
    assert fields["Weight"] == "0.67"
    assert "Your taste" not in fields  # private unless shared (test_privacy)
    assert message["embeds"][0]["title"] == f"“{PROMPT}”"
    (row,) = await generations(harness.service.sessions)
    assert row.status == "done"
    assert row.job_key == f"discord-{dispatched.id}"
    assert (row.channel_id, row.guild_id) == (p.CHANNEL_ID, p.GUILD_ID)
    sent = harness.recorder.files_of(message)[f"sticker-{row.id}.png"]
    assert png(sent.data).size == (320, 320)
    assert not sent.spoiler
    assert button_ids(message) == [
        f"pmg:{action}:{row.id}" for action in ("reroll", "like", "dislike", "compare", "delete")
    ]


async def test_first_result_comes_with_the_privacy_notice_once(harness: Harness) -> None:
    """A new user's first result is followed by an ephemeral notice; the second is not."""
    first, _ = await harness.draw(ALICE, PROMPT)
    second, _ = await harness.draw(ALICE, "a dog")

    def notices(followups: list[Call]) -> list[Call]:
        return [c for c in followups if "/prefs export" in c.json["content"]]

    (notice,) = notices(first.followups())
    assert notice.json["flags"] == p.EPHEMERAL
    assert "/prefs forget" in notice.json["content"]
    assert notices(second.followups()) == []


async def test_image_posts_a_full_size_picture(harness: Harness) -> None:
    """/image posts an image file with a weight from the option."""
    _, message = await harness.draw(ALICE, "a forest", command="image", weight=0.25)
    (row,) = await generations(harness.service.sessions)
    assert row.kind == "image"
    assert row.personalization_weight == 0.25
    assert embed_fields(message)["Weight"] == "0.25"
    sent = harness.recorder.files_of(message)[f"image-{row.id}.png"]
    assert png(sent.data).format == "PNG"


@pytest.mark.parametrize("weight", [1.5, -0.1, 7])
async def test_out_of_range_weight_is_refused_ephemerally(harness: Harness, weight: float) -> None:
    """A weight outside 0..1 (Discord's client checks it, discord.py does not) is refused."""
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT, "weight": weight})
    assert dispatched.ephemeral_text() == f"The weight must be between 0 and 1, got {weight:g}."
    assert await generations(harness.service.sessions) == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([{"name": "prompt", "type": 3, "value": PROMPT}, {"name": "weight", "type": 10,
          "value": "lots"}], "I could not read the options of this command; please try again."),
        ([{"name": "prompt", "type": 3, "value": PROMPT}, {"name": "weight", "type": 10,
          "value": ""}], "The weight must be a number between 0 and 1, got nan."),
        ([{"name": "prompt", "type": 3, "value": 42}], "The prompt must be some text."),
        ([{"name": "prompt", "type": 3, "value": "   "}], "The prompt must be some text."),
        ([{"name": "prompt", "type": 3, "value": "!!! ???"}],
         "Describe what to draw with at least one word."),
        ([], "This command changed since your app loaded it; try again in a minute."),
    ],
)  # fmt: skip
async def test_malformed_options_are_refused_ephemerally(
    harness: Harness, options: list[dict[str, object]], expected: str
) -> None:
    """Options of the wrong type, blank prompts and missing required options get one sentence."""
    dispatched = await harness.slash("sticker", ALICE, raw_options=options)
    assert dispatched.ephemeral_text() == expected
    assert await generations(harness.service.sessions) == []


async def test_long_prompt_is_refused(harness: Harness) -> None:
    """A prompt over the configured length is refused before anything is queued."""
    dispatched = await harness.slash("sticker", ALICE, {"prompt": "cat " * 100})
    assert dispatched.ephemeral_text() == "The prompt has 400 characters; the limit is 300."


async def test_blocklisted_prompt_is_refused(harness: Harness) -> None:
    """A prompt with a blocked word is refused ephemerally and leaves no row."""
    dispatched = await harness.slash("image", ALICE, {"prompt": "a GORE scene"})
    assert dispatched.ephemeral_text() == "I can't draw that prompt; please ask for something else."
    assert await generations(harness.service.sessions) == []


@pytest.mark.discord_settings(daily_quota=1)
async def test_daily_quota_refuses_the_next_request(harness: Harness) -> None:
    """Past the daily quota the next request is refused with a short sentence."""
    await harness.draw(ALICE, PROMPT)
    refused = await harness.slash("sticker", ALICE, {"prompt": "a dog"})
    assert refused.ephemeral_text() == (
        "You reached today's limit of 1 pictures; it resets at 00:00 UTC."
    )
    other, _ = await harness.draw(BOB, "a dog")
    assert other.callback().json == {"type": 5}


@pytest.mark.discord_settings(cooldown_s=60)
async def test_cooldown_refuses_a_quick_second_request(harness: Harness) -> None:
    """Within the cooldown a second request is refused."""
    await harness.draw(ALICE, PROMPT)
    refused = await harness.slash("sticker", ALICE, {"prompt": "a dog"})
    match = re.fullmatch(r"Slow down a little: try again in (\d+) s\.", refused.ephemeral_text())
    assert match is not None
    assert 30 <= int(match[1]) <= 60


@pytest.mark.discord_settings(max_concurrent_jobs=1)
async def test_concurrent_job_cap_and_queue_position(
    harness: Harness, gate: GatedGenerator
) -> None:
    """With one job in flight a user is refused a second; another user sees their position."""
    gate.open.clear()
    first = await harness.slash("sticker", ALICE, {"prompt": PROMPT}, wait=False)
    await asyncio.to_thread(gate.entered.wait, 30)
    second = await harness.slash("sticker", BOB, {"prompt": "a dog"}, wait=False)
    await harness.eventually(lambda: bool(harness.recorder.for_token(second.token)[1:]))
    assert second.original()["content"] == "⏳ In the queue, position 1…"
    refused = await harness.slash("sticker", ALICE, {"prompt": "a bird"})
    assert refused.ephemeral_text() == (
        "You already have one picture in the making; wait for it to finish."
    )
    gate.open.set()
    await asyncio.gather(*first.tasks, *second.tasks)
    assert first.original()["attachments"]
    assert second.original()["attachments"]


async def test_queue_unavailable_is_one_sentence(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the queue refuses the job the deferred message becomes one sentence."""

    async def refuse(request: object) -> None:
        raise QueueUnavailable("the job queue is unavailable right now; try again soon")

    monkeypatch.setattr(harness.client.deps.queue, "submit", refuse)
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    message = dispatched.original()
    assert message["content"] == "⚠️ The job queue is unavailable right now; try again soon."
    assert message["attachments"] == []


async def test_failed_job_is_one_sentence(harness: Harness) -> None:
    """A job that fails in the engine ends as one sentence, no traceback."""
    harness.service.models.generator = None  # the service is this test's own
    _, message = await harness.draw(ALICE, PROMPT)
    assert message["content"].startswith("⚠️ ")
    assert "Traceback" not in message["content"]
    (row,) = await generations(harness.service.sessions)
    assert row.status == "failed"


def expire_at_first_progress(harness: Harness) -> None:
    """Make 16 minutes pass right after the bot's first progress edit."""

    def hook(call: Call) -> None:
        if call.method == "PATCH" and "@original" in call.path and harness.recorder.hooks:
            harness.recorder.hooks.clear()
            harness.clock.advance(timedelta(minutes=16))

    harness.recorder.hooks.append(hook)


async def test_result_after_the_token_expired_goes_to_the_channel(harness: Harness) -> None:
    """A job that ends after the 15-minute token is posted in the channel, mentioning the user."""
    expire_at_first_progress(harness)
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    edits = [c for c in harness.recorder.for_token(dispatched.token) if c.method == "PATCH"]
    assert len(edits) == 1  # no edit is tried with a dead token
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["content"] == f"<@{ALICE.id}> your picture is ready."
    assert late["attachments"][0]["filename"].startswith("sticker-")
    assert button_ids(late)[0].startswith("pmg:reroll:")
    (call,) = [c for c in harness.recorder.calls if c.path == f"/channels/{p.CHANNEL_ID}/messages"]
    assert call.json["allowed_mentions"] == {"parse": [], "users": [ALICE.id]}


async def test_late_result_goes_by_dm_when_the_channel_is_closed(harness: Harness) -> None:
    """When the channel refuses the bot, the late result goes to the user's DMs."""
    expire_at_first_progress(harness)
    harness.recorder.forbidden_channels.add(p.CHANNEL_ID)
    await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    dm_channel = harness.recorder.dm_channels[ALICE.id]
    (late,) = harness.recorder.channel_messages(dm_channel)
    assert late["attachments"][0]["filename"].startswith("sticker-")


async def test_token_refused_by_discord_falls_back_to_the_channel(harness: Harness) -> None:
    """If Discord refuses the token early (50027), the result still reaches the channel."""

    def revoke(call: Call) -> None:
        if call.method == "PATCH" and call.token:
            harness.recorder.revoked.add(call.token)

    harness.recorder.hooks.append(revoke)
    await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["attachments"]


class JudgeAll:
    """A safety hook with a fixed verdict."""

    def __init__(self, action: str) -> None:
        self.action = action

    async def judge(self, result: GenerationResult) -> Verdict:
        return Verdict(self.action, "the safety check flagged it")  # type: ignore[arg-type]


async def test_safety_hook_can_put_the_result_behind_a_spoiler(harness: Harness) -> None:
    """A flagged output is posted as a spoiler with a one-line reason."""
    harness.client.deps.safety = JudgeAll("spoiler")
    _, message = await harness.draw(ALICE, PROMPT)
    assert message["content"] == "⚠️ Behind a spoiler: the safety check flagged it."
    (name,) = harness.recorder.files_of(message)
    assert name.startswith("SPOILER_sticker-")


async def test_safety_hook_can_refuse_the_result(harness: Harness) -> None:
    """A refused output is never uploaded."""
    harness.client.deps.safety = JudgeAll("refuse")
    _, message = await harness.draw(ALICE, PROMPT)
    assert message["content"] == REFUSED_OUTPUT
    assert message["attachments"] == []
    assert message["components"] == []


async def test_restart_during_a_job_delivers_the_result_in_the_channel(
    harness: Harness, gate: GatedGenerator
) -> None:
    """A job interrupted by a restart is picked up again and posted in the channel."""
    gate.open.clear()
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT}, wait=False)
    await asyncio.to_thread(gate.entered.wait, 30)
    for task in dispatched.tasks:  # the process dies with its tasks
        task.cancel()
    stopping = asyncio.create_task(harness.stop())
    await asyncio.sleep(0.1)  # the queue asks the running job to stop at its next step
    gate.open.set()
    await stopping
    (row,) = await generations(harness.service.sessions)
    assert row.status == "queued"
    await harness.start()
    await harness.settle()
    (row,) = await generations(harness.service.sessions)
    assert row.status == "done"
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["content"] == f"<@{ALICE.id}> your picture is ready."
    assert late["attachments"][0]["filename"] == f"sticker-{row.id}.png"


async def test_starting_does_not_sync_commands(harness: Harness) -> None:
    """A normal start never syncs the command tree (Discord rate-limits syncs per day)."""
    assert not [c for c in harness.recorder.calls if c.method == "PUT"]
