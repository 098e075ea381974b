"""``pmg bot``: the bot's command, defined beside its composition root in ``bot.__main__``.

The ``pmg`` group registers ``bot_command`` from here; ``python -m bot`` runs it there, so
neither module imports the other in a circle.
"""

from __future__ import annotations

from bot.__main__ import bot_command

__all__ = ["bot_command"]
