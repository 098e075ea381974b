"""Profiles are refreshed in the background after chat and votes, never lost at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pmg_engine.chat import ChatReplier
from pmg_engine.db import repo
from pmg_engine.service import GenerationRequest, local_user_id
from pmg_engine.service._refresh import ProfileRefresher

ALICE = local_user_id("alice")
BOB = local_user_id("bob")


class ManualClock:
    """A clock that moves only when the test says so; sleepers wake when it passes them."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, future in list(self._sleepers):
            if deadline <= self.now:
                self._sleepers.remove((deadline, future))
                if not future.done():
                    future.set_result(None)


async def chat(service: Any, *messages: str, user_id: int = ALICE) -> None:
    for message in messages:
        await service.converse(
            ChatReplier(None), user_id=user_id, user_name="alice", content=message, source="local"
        )


async def profile_version(service: Any, user_id: int = ALICE) -> int:
    async with service.sessions() as session:
        profile = await repo.latest_profile(session=session, user_id=user_id)
    return profile.version if profile is not None else 0


async def test_a_burst_of_schedules_is_one_update_after_the_quiet_delay() -> None:
    """Three schedules 2 s apart with a 5 s delay give one update, 5 s after the last."""
    clock = ManualClock()
    done: list[tuple[int, float]] = []

    async def update(user_id: int) -> None:
        done.append((user_id, clock()))

    refresher = ProfileRefresher(update, delay_s=5.0, clock=clock, sleep=clock.sleep)
    await refresher.start()
    for _ in range(3):
        refresher.schedule(ALICE)
        await refresher.settled()
        clock.advance(2.0)
    await refresher.settled()
    assert done == []  # t=6: the last schedule (t=4) is due at t=9
    clock.advance(2.0)
    await refresher.settled()
    assert done == []
    clock.advance(1.0)
    await refresher.settled()
    assert done == [(ALICE, 9.0)]
    assert refresher.pending() == []
    await refresher.close()


async def test_close_flushes_what_is_still_waiting() -> None:
    """At shutdown a pending update runs at once instead of waiting for its delay."""
    clock = ManualClock()
    done: list[int] = []

    async def update(user_id: int) -> None:
        done.append(user_id)

    refresher = ProfileRefresher(update, delay_s=60.0, clock=clock, sleep=clock.sleep)
    await refresher.start()
    refresher.schedule(ALICE)
    refresher.schedule(BOB)
    await refresher.close()
    assert sorted(done) == sorted([ALICE, BOB])
    assert not refresher.running
    refresher.schedule(ALICE)  # after close: stored behaviours wait for the next update
    assert refresher.pending() == []


async def test_one_failing_update_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A user whose update raises is logged; the next user's update still runs."""
    done: list[int] = []

    async def update(user_id: int) -> None:
        if user_id == ALICE:
            raise RuntimeError("broken profile")
        done.append(user_id)

    refresher = ProfileRefresher(update, delay_s=0.0)
    await refresher.start()
    refresher.schedule(ALICE)
    await refresher.settled()
    refresher.schedule(BOB)
    await refresher.settled()
    await refresher.close()
    assert done == [BOB]
    assert "background profile update of user" in caplog.text


def test_a_negative_delay_is_refused() -> None:
    """The delay is validated and the message shows the value."""

    async def update(user_id: int) -> None:
        return None

    with pytest.raises(ValueError, match="-1"):
        ProfileRefresher(update, delay_s=-1)


async def test_chat_turns_refresh_the_profile_in_the_background(make_service: Any) -> None:
    """After chat turns the stored profile catches up without anyone asking for a sticker."""
    service = make_service(profile_refresh_delay_s=0.0)
    await service.refresher.start()
    try:
        await chat(service, "I love cats and pastel colours")
        await service.refresher.settled()
        assert await profile_version(service) == 1
        await chat(service, "neon pixel art is the best")
        await service.refresher.settled()
        assert await profile_version(service) == 2
    finally:
        await service.refresher.close()


async def test_a_sticker_draws_with_the_stored_profile_and_updates_only_without_one(
    make_service: Any,
) -> None:
    """The first sticker builds the profile inline; a later one uses the stored version."""
    service = make_service(preference_grid=(1.0,))  # refresher not started: nothing runs
    await chat(service, "I love cats and pastel colours")
    first = await service.generate(GenerationRequest(user_id=ALICE, prompt="a dog", seed=1))
    assert await profile_version(service) == 1
    await chat(service, "dragons are my favourite thing ever")
    second = await service.generate(GenerationRequest(user_id=ALICE, prompt="a dog", seed=1))
    assert await profile_version(service) == 1  # no update on the request path
    assert "dragons" not in second.preference_keywords
    assert second.preference_keywords == first.preference_keywords
    await service.update_profile(user_id=ALICE)  # what the background refresh does
    third = await service.generate(GenerationRequest(user_id=ALICE, prompt="a dog", seed=1))
    assert "dragons" in third.preference_keywords


async def test_inline_mode_updates_on_every_request(make_service: Any) -> None:
    """With profile_updates=inline (a scale-out worker) each request brings the profile up."""
    service = make_service(preference_grid=(1.0,), profile_updates="inline")
    await chat(service, "I love cats and pastel colours")
    await service.generate(GenerationRequest(user_id=ALICE, prompt="a dog", seed=1))
    await chat(service, "dragons are my favourite thing ever")
    result = await service.generate(GenerationRequest(user_id=ALICE, prompt="a dog", seed=1))
    assert await profile_version(service) == 2
    assert "dragons" in result.preference_keywords


async def test_a_vote_schedules_a_refresh(make_service: Any) -> None:
    """A 👍 with learning on is behaviour: the background refresh picks it up."""
    service = make_service(preference_grid=(1.0,), profile_refresh_delay_s=0.0)
    await chat(service, "I love cats")
    result = await service.generate(GenerationRequest(user_id=ALICE, prompt="a dog", seed=1))
    await service.refresher.start()
    try:
        await service.record_feedback(user_id=ALICE, generation_id=result.generation_id, liked=True)
        await service.refresher.settled()
        assert await profile_version(service) == 2
    finally:
        await service.refresher.close()
