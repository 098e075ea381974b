"""Debounced background profile updates, off the request path (DESIGN.md sections 3 and 4).

A chat turn or a vote schedules the user's profile; the update runs once the user has been
quiet for ``delay_s``, so a burst of messages costs one update. Updates are incremental (they
read the behaviours after the profile's ``last_behaviour_id``), so one that never ran loses
nothing: the next update of that user covers its behaviours too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Update = Callable[[int], Awaitable[object]]
Sleep = Callable[[float], Awaitable[None]]


class ProfileRefresher:
    """Run ``update(user_id)`` in the background, ``delay_s`` after a user's last schedule."""

    def __init__(
        self,
        update: Update,
        *,
        delay_s: float = 5.0,
        close_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {delay_s}")
        self._update = update
        self.delay_s = delay_s
        self.close_timeout_s = close_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._due: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._running_user: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.completed = 0

    @property
    def running(self) -> bool:
        """Whether the background loop is started and not closed."""
        return self._task is not None and not self._task.done() and not self._closing

    def pending(self) -> list[int]:
        """Return the users whose update is scheduled and not yet run."""
        return list(self._due)

    def schedule(self, user_id: int) -> None:
        """Ask for ``user_id``'s update ``delay_s`` from now (a later call pushes it back)."""
        if not self.running:
            # Nothing is lost: the stored behaviours wait for the next update of this user.
            return
        self._due[user_id] = self._clock() + self.delay_s
        self._wake.set()

    async def start(self) -> None:
        """Start the background loop on the running event loop."""
        if self.running:
            return
        self._closing = False
        self._task = asyncio.create_task(self._loop(), name="pmg-profile-refresh")

    async def close(self) -> None:
        """Flush every pending update now (bounded by ``close_timeout_s``), then stop."""
        if self._task is None:
            return
        task = self._task
        self._closing = True
        self._wake.set()
        try:
            async with asyncio.timeout(self.close_timeout_s):
                # The loop finishes the update it is running, then flushes the rest at once.
                await task
        except TimeoutError:
            # The behaviours stay stored: the user's next update (a chat turn, a vote, a
            # request without a profile) reads them all.
            log.warning(
                "profile updates of %d user(s) left for later at shutdown", len(self._due) + 1
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._task = None
            self._due.clear()

    async def settled(self) -> None:
        """Wait until no update is running and none is due by the clock (for callers' tests)."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: (
                    self._running_user is None
                    and not any(t <= self._clock() for t in self._due.values())
                )
            )

    async def _loop(self) -> None:
        while True:
            if self._closing:
                # Shutdown flushes: every scheduled update runs now, debounce or not.
                while self._due:
                    user_id = next(iter(self._due))
                    del self._due[user_id]
                    await self._run(user_id)
                return
            now = self._clock()
            for user_id in [u for u, t in self._due.items() if t <= now]:
                del self._due[user_id]
                await self._run(user_id)
                if self._closing:
                    break
            if self._closing:
                continue
            self._wake.clear()
            await self._notify()
            if not self._due:
                await self._wake.wait()
                continue
            wait = max(0.0, min(self._due.values()) - self._clock())
            sleeper = asyncio.ensure_future(self._sleep(wait))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    async def _run(self, user_id: int) -> None:
        self._running_user = user_id
        try:
            await self._update(user_id)
            self.completed += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # one user's failed update must not stop everyone else's
            log.exception("background profile update of user %s failed", user_id)
        finally:
            self._running_user = None
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
