"""The submitter's half shared by both queues: local event fan-out, results, event streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from pmg_engine.queue import jobs
from pmg_engine.queue.base import JobCancelled, JobEvent, JobFailed
from pmg_engine.service import result_of
from pmg_engine.states import JobStatus

if TYPE_CHECKING:
    from pmg_engine.queue.jobs import Owed
    from pmg_engine.service import GenerationResult, PMGService

# Enough to cover every job a bot is still waiting on; older ones are read from their rows.
KEEP_LATEST = 10_000


class EventHub:
    """Fan job events out to local subscribers and remember each job's latest event.

    Lives on one event loop; other threads hand events over with ``call_soon_threadsafe``.
    """

    def __init__(self, *, keep: int = KEEP_LATEST) -> None:
        self._inboxes: dict[int, set[asyncio.Queue[JobEvent]]] = {}
        self._latest: OrderedDict[int, JobEvent] = OrderedDict()
        self._keep = keep

    def publish(self, event: JobEvent) -> None:
        """Record ``event`` as its job's latest and hand it to every subscriber."""
        self._latest[event.generation_id] = event
        self._latest.move_to_end(event.generation_id)
        while len(self._latest) > self._keep:
            self._latest.popitem(last=False)
        for inbox in self._inboxes.get(event.generation_id, ()):
            inbox.put_nowait(event)

    def latest(self, generation_id: int) -> JobEvent | None:
        """Return the job's latest event seen here, if any."""
        return self._latest.get(generation_id)

    def watched(self) -> list[int]:
        """Return the jobs somebody is waiting on."""
        return [gid for gid, inboxes in self._inboxes.items() if inboxes]

    @contextlib.contextmanager
    def subscribe(self, generation_id: int) -> Iterator[asyncio.Queue[JobEvent]]:
        """Receive the job's events published while the block runs."""
        inbox: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._inboxes.setdefault(generation_id, set()).add(inbox)
        try:
            yield inbox
        finally:
            inboxes = self._inboxes.get(generation_id)
            if inboxes is not None:
                inboxes.discard(inbox)
                if not inboxes:
                    del self._inboxes[generation_id]


class QueueClient:
    """``result`` and ``events`` on top of an ``EventHub`` and the rows (both queues)."""

    def __init__(self, service: PMGService) -> None:
        self._service = service
        self._hub = EventHub()

    async def _position(self, generation_id: int) -> int | None:
        """Return how many unfinished jobs are ahead of this one, or ``None`` if unknown."""
        raise NotImplementedError

    async def _state(self, generation_id: int) -> JobEvent:
        # The row decides whether the job ended: a final event can be missed (another process
        # ran it, or this one restarted), a finished row cannot.
        latest = self._hub.latest(generation_id)
        if latest is not None and latest.final:
            return latest
        row = await jobs.status_of(sessions=self._service.sessions, generation_id=generation_id)
        final = jobs.final_event(row)
        if final is not None:
            return final
        if latest is not None:
            return latest
        if row.status == JobStatus.RUNNING:
            return JobEvent(generation_id, "started")
        return JobEvent(generation_id, "queued", position=await self._position(generation_id))

    async def owed(self) -> list[Owed]:
        """Return the jobs from Discord whose result has not reached their user, oldest first."""
        return await jobs.owed(sessions=self._service.sessions)

    async def mark_delivered(self, generation_id: int, *, note: str) -> bool:
        """Record a successful delivery of a finished job; return whether this call did."""
        return await jobs.mark_delivered(
            sessions=self._service.sessions, generation_id=generation_id, note=note
        )

    async def note_delivery(self, generation_id: int, *, note: str) -> None:
        """Record why a delivery attempt failed; the job stays owed."""
        await jobs.note_delivery(
            sessions=self._service.sessions, generation_id=generation_id, note=note
        )

    async def result(self, generation_id: int) -> GenerationResult:
        """Wait for the job's result; raise ``JobFailed`` or ``JobCancelled`` without one."""
        with self._hub.subscribe(generation_id) as inbox:
            event = await self._state(generation_id)
            while not event.final:
                event = await inbox.get()
        if event.kind == "cancelled":
            raise JobCancelled(jobs.CANCELLED_MESSAGE)
        row = await jobs.status_of(sessions=self._service.sessions, generation_id=generation_id)
        if event.kind == "failed" or row.status != JobStatus.DONE:
            raise JobFailed(event.error or jobs.FAILED_MESSAGE)
        return result_of(row, outputs_dir=self._service.config.outputs_dir)

    async def events(self, generation_id: int) -> AsyncIterator[JobEvent]:
        """Yield the job's current state, then its events until a final one."""
        with self._hub.subscribe(generation_id) as inbox:
            current = await self._state(generation_id)
            yield current
            first = True
            while not current.final:
                event = await inbox.get()
                if first and event == current:
                    # Published between subscribing and reading the state: already yielded.
                    first = False
                    continue
                first = False
                current = event
                yield event

    async def _wait_final(self, generation_id: int, wait_s: float) -> JobEvent | None:
        """Return the job's final event, or ``None`` if it does not come within ``wait_s``."""
        with self._hub.subscribe(generation_id) as inbox:
            event = await self._state(generation_id)
            try:
                async with asyncio.timeout(wait_s):
                    while not event.final:
                        event = await inbox.get()
            except TimeoutError:
                return None
        return event
