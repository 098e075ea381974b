"""Delivery as an outbox: a finished picture reaches its user even if the edit or the bot fails."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import discord
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import BotDeps, PMGBot
from bot.safety import Verdict
from config import Settings
from pmg_engine.chat import ChatReplier
from pmg_engine.db.models import Generation
from pmg_engine.queue.celery_queue import CeleryQueue
from pmg_engine.service import GenerationResult, PMGService
from pmg_engine.states import JobStatus
from tests.bot.harness import Call, Harness, Recorder, http_error, p
from tests.bot.support import ALICE, PROMPT, GatedGenerator, button_ids, generations
from tests.fakes import RecordingChatModel
from tests.queue.conftest import (
    WorkerProcess,
    drop_namespace,
    new_namespace,
    queue_settings,
    redis_url,  # noqa: F401  # the fixture, shared with the queue tests
    worker_env,
    worker_sd_dir,  # noqa: F401  # the fixture, shared with the queue tests
)

Sessions = async_sessionmaker[AsyncSession]
# A worker process on a busy 2-core machine takes a while to import torch and draw.
WAIT_S = 120.0


def refuse_the_final_edit(call: Call) -> discord.HTTPException | None:
    """Answer the edit that carries the picture with a 400, as a real server once did."""
    if call.method == "PATCH" and "@original" in call.path and call.files:
        return http_error(400, 50035, "Invalid Form Body")
    return None


async def only_row(harness: Harness) -> Generation:
    (row,) = await generations(harness.service.sessions)
    return row


async def ended(harness: Harness) -> Generation:
    """Read the only row until another process has finished its job (no bot runs to tell)."""
    while True:
        row = await only_row(harness)
        if row.status.final:
            return row
        await asyncio.sleep(0.2)


async def test_final_edit_refused_with_400_posts_the_picture_late(harness: Harness) -> None:
    """A 400 on the final edit does not drop the sticker: it goes out late; the row says why."""
    harness.recorder.refusals.append(refuse_the_final_edit)
    await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    row = await only_row(harness)
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["content"] == f"<@{ALICE.id}> your picture is ready."
    assert late["attachments"][0]["filename"] == f"sticker-{row.id}.png"
    assert button_ids(late)[0] == f"pmg:reroll:{row.id}"
    assert row.delivered_at is not None
    assert row.delivery_note == (
        "the edit failed: HTTP 400 (code 50035); posted late in the channel"
    )


async def test_an_edited_reply_is_recorded_as_delivered(harness: Harness) -> None:
    """The usual path: the deferred reply shows the picture and the row is marked delivered."""
    _, message = await harness.draw(ALICE, PROMPT)
    row = await only_row(harness)
    assert message["attachments"]
    assert (row.delivery_note, row.delivered_at is not None) == ("edited the reply", True)
    assert harness.recorder.channel_messages(p.CHANNEL_ID) == []
    await harness.restart()
    await harness.settle()
    assert harness.recorder.channel_messages(p.CHANNEL_ID) == []


async def test_a_missing_file_still_tells_the_user(harness: Harness) -> None:
    """A picture whose file vanished before the edit ends as a late message saying so."""

    class LoseTheFile:
        """Pass every result, but lose its file first (a shared folder gone away)."""

        async def judge(self, result: GenerationResult) -> Verdict:
            result.output_path.unlink()
            return Verdict("allow")

    harness.client.deps.safety = LoseTheFile()
    await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    row = await only_row(harness)
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["content"] == (
        f"<@{ALICE.id}> ⚠️ The picture's file is missing; please draw it again."
    )
    assert late["attachments"] == []
    assert row.delivery_note == (
        "the edit failed: JobFailed; posted late in the channel without its file"
    )


async def test_a_late_post_that_fails_leaves_the_job_owed_for_the_next_start(
    harness: Harness,
) -> None:
    """When neither the edit, the channel nor the DM takes it, the next start delivers it."""
    harness.recorder.refusals.append(refuse_the_final_edit)

    def refuse_every_post(call: Call) -> discord.HTTPException | None:
        if call.method == "POST" and call.path.endswith("/messages"):
            return http_error(500, 0, "Internal Server Error")
        return None

    harness.recorder.refusals.append(refuse_every_post)
    await harness.slash("sticker", ALICE, {"prompt": PROMPT})
    row = await only_row(harness)
    assert row.delivered_at is None
    assert row.delivery_note == (
        "the edit failed: HTTP 400 (code 50035); the late post failed too: HTTPException"
    )
    harness.recorder.refusals.clear()
    await harness.restart()
    await harness.settle()
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["attachments"][0]["filename"] == f"sticker-{row.id}.png"
    row = await only_row(harness)
    assert row.delivery_note == "the bot restarted; posted late in the channel"


async def test_a_job_that_finished_while_the_bot_was_down_is_delivered_once(
    harness: Harness, gate: GatedGenerator
) -> None:
    """The bot dies while its job runs; the job finishes; the next start posts it, once."""
    gate.open.clear()
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT}, wait=False)
    await asyncio.to_thread(gate.entered.wait, 30)
    for task in dispatched.tasks:  # the request's handler dies; the model thread draws on
        task.cancel()
    await asyncio.gather(*dispatched.tasks, return_exceptions=True)
    row = await only_row(harness)
    gate.open.set()
    await harness.client.deps.queue.result(row.id)
    await harness.stop()
    row = await only_row(harness)
    assert (row.status, row.delivered_at) == (JobStatus.DONE, None)
    await harness.start()
    await harness.settle()
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["content"] == f"<@{ALICE.id}> your picture is ready."
    assert late["attachments"][0]["filename"] == f"sticker-{row.id}.png"
    row = await only_row(harness)
    assert row.delivery_note == "the bot restarted; posted late in the channel"
    await harness.restart()
    await harness.settle()
    assert len(harness.recorder.channel_messages(p.CHANNEL_ID)) == 1


async def test_a_cancelled_job_is_owed_nothing(harness: Harness, gate: GatedGenerator) -> None:
    """A job cancelled while the bot was down is not posted at the next start."""
    gate.open.clear()
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT}, wait=False)
    await asyncio.to_thread(gate.entered.wait, 30)
    for task in dispatched.tasks:
        task.cancel()
    await asyncio.gather(*dispatched.tasks, return_exceptions=True)
    row = await only_row(harness)
    cancelling = asyncio.create_task(harness.client.deps.queue.cancel(row.id))
    await asyncio.sleep(0)
    gate.open.set()
    assert await cancelling
    await harness.restart()
    await harness.settle()
    assert harness.recorder.channel_messages(p.CHANNEL_ID) == []
    assert (await only_row(harness)).status == JobStatus.CANCELLED


# -- a Celery worker finishes the job while the bot process is stopped --------------------------


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:  # noqa: F811  # the imported fixture
    """A Redis namespace for one test, deleted afterwards."""
    name = new_namespace()
    yield name
    drop_namespace(redis_url, name)


@pytest.fixture
async def celery_harness(
    bot_settings: Settings,
    service: PMGService,
    chat_model: RecordingChatModel,
    recorder: Recorder,
    redis_url: str,  # noqa: F811  # the imported fixture
    namespace: str,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    """A bot whose jobs go to Celery workers; its outputs folder is the workers' one."""
    data_dir = tmp_path / "data"
    shared = PMGService(
        sessions=service.sessions,
        models=service.models,
        config=dataclasses.replace(service.config, outputs_dir=data_dir / "outputs"),
    )
    settings = queue_settings(redis_url, namespace)

    async def make_bot() -> PMGBot:
        queue = CeleryQueue(shared, settings=settings, reconcile_s=1.0)
        await queue.start()
        deps = BotDeps.from_settings(
            bot_settings, service=shared, queue=queue, replier=ChatReplier(chat_model)
        )
        return PMGBot(deps)

    harness = Harness(make_bot, recorder, recorder.clock, recorder.snowflakes, shared)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def test_a_celery_job_finished_while_the_bot_was_stopped_is_delivered_once(
    celery_harness: Harness,
    redis_url: str,  # noqa: F811  # the imported fixture
    namespace: str,
    worker_sd_dir: Path,  # noqa: F811  # the imported fixture
    tiny_clip_dir: Path,
    tmp_path: Path,
) -> None:
    """The bot sends a job and stops; a worker draws it; the next bot start posts it once."""
    harness = celery_harness
    dispatched = await harness.slash("sticker", ALICE, {"prompt": PROMPT}, wait=False)
    await harness.eventually(lambda: len(harness.recorder.for_token(dispatched.token)) >= 2)
    assert dispatched.original()["content"].startswith("⏳")
    for task in dispatched.tasks:  # the bot process stops with its request in flight
        task.cancel()
    await asyncio.gather(*dispatched.tasks, return_exceptions=True)
    await harness.stop()
    row = await only_row(harness)
    assert row.status == JobStatus.QUEUED

    database_url = str(harness.service.sessions.kw["bind"].url)
    env = worker_env(
        database_url=database_url,
        data_dir=tmp_path / "data",
        model_dir=worker_sd_dir,
        settings=queue_settings(redis_url, namespace),
        scorer_dir=tiny_clip_dir,
    )
    worker = WorkerProcess(env=env, log_path=tmp_path / "worker.log").start()
    try:
        async with asyncio.timeout(WAIT_S):
            await ended(harness)
    except TimeoutError:
        raise AssertionError(f"the worker did not finish the job:\n{worker.output()}") from None
    finally:
        worker.stop()
    assert (await only_row(harness)).delivered_at is None

    await harness.start()
    await harness.settle()
    (late,) = harness.recorder.channel_messages(p.CHANNEL_ID)
    assert late["content"] == f"<@{ALICE.id}> your picture is ready."
    assert late["attachments"][0]["filename"] == f"sticker-{row.id}.png"
    row = await only_row(harness)
    assert row.delivery_note == "the bot restarted; posted late in the channel"
    await harness.restart()
    await harness.settle()
    assert len(harness.recorder.channel_messages(p.CHANNEL_ID)) == 1
