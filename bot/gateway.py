"""Survive gateway payloads that discord.py cannot parse: log them, drop them, keep running."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import discord

log = logging.getLogger(__name__)


def guard_parsers(state: Any) -> None:
    """Wrap every dispatch parser of a client's connection state so one bad payload is dropped.

    The gateway looks each event up in ``state.parsers`` and calls it on the reading loop; an
    exception there would end the connection (and, uncaught, the process), so this is the one
    place to stop it.
    """
    parsers: dict[str, Callable[[Any], None]] = state.parsers
    for event, parse in list(parsers.items()):
        parsers[event] = _guarded(event, parse)


def _guarded(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    if getattr(parse, "__pmg_guarded__", False):
        return parse

    @functools.wraps(parse)
    def guarded(data: Any) -> None:
        try:
            parse(data)
        except (discord.ConnectionClosed, discord.GatewayNotFound):
            raise
        except Exception as exc:  # the one guard around discord.py's parsers
            # The payload holds users' messages: log its shape, never its content.
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            log.error(
                "dropped a %s payload that could not be parsed (%s: %s); its keys: %s",
                event,
                type(exc).__name__,
                exc,
                keys,
                exc_info=True,
            )

    guarded.__pmg_guarded__ = True  # type: ignore[attr-defined]
    return guarded
