"""Per-user limits on generation: concurrent jobs, cooldown and a daily quota."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.errors import Refused


@dataclass(frozen=True)
class Limits:
    """The configured limits; ``daily_quota`` 0 means no quota."""

    max_concurrent_jobs: int
    cooldown_s: float
    daily_quota: int


class RequestLimiter:
    """Admit or refuse a user's request; in-flight counts and cooldowns live in memory.

    The daily quota is counted from the generation rows (passed in as ``used_today``), so it
    survives restarts; a restart only forgets running slots and cooldowns, which end anyway.
    """

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._running: dict[int, int] = {}
        self._last_start: dict[int, float] = {}

    def check(self, user_id: int, *, used_today: int, cost: int = 1) -> None:
        """Raise ``Refused`` with a short sentence when the user may not start a request now."""
        limits = self.limits
        if self._running.get(user_id, 0) >= limits.max_concurrent_jobs:
            n = limits.max_concurrent_jobs
            what = "one picture" if n == 1 else f"{n} pictures"
            raise Refused(f"You already have {what} in the making; wait for it to finish.")
        last = self._last_start.get(user_id)
        if last is not None and limits.cooldown_s > 0:
            wait = limits.cooldown_s - (self._clock() - last)
            if wait > 0:
                raise Refused(f"Slow down a little: try again in {math.ceil(wait)} s.")
        if limits.daily_quota and used_today + cost > limits.daily_quota:
            raise Refused(
                f"You reached today's limit of {limits.daily_quota} pictures; "
                "it resets at 00:00 UTC."
            )

    @contextmanager
    def slot(self, user_id: int, *, used_today: int, cost: int = 1) -> Iterator[None]:
        """Hold one of the user's concurrent slots for the duration of a request."""
        self.check(user_id, used_today=used_today, cost=cost)
        self._running[user_id] = self._running.get(user_id, 0) + 1
        self._last_start[user_id] = self._clock()
        try:
            yield
        finally:
            remaining = self._running.get(user_id, 1) - 1
            if remaining > 0:
                self._running[user_id] = remaining
            else:
                self._running.pop(user_id, None)

    def forget(self, user_id: int) -> None:
        """Drop what is kept in memory about the user (after ``/prefs forget``)."""
        self._last_start.pop(user_id, None)
