"""Who the bot tests play, and how they read the database back."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db.models import Base, Generation
from tests.bot.harness import Person, p

ALICE = Person(2_000_000_000_000_000_001, "alice")
BOB = Person(2_000_000_000_000_000_002, "bob")
ADA = Person(2_000_000_000_000_000_003, "ada", admin=True)
OWNER = Person(2_000_000_000_000_000_004, "olivia")
BOT_USER = p.user(1_100_000_000_000_000_000, "pmg", bot=True)
CHAT_REPLY = "Cats in pastel colours sound lovely!"
PROMPT = "a cat drinking coffee"


async def rows_about(sessions: async_sessionmaker[AsyncSession], user_id: int) -> dict[str, int]:
    """Count, per table, the rows whose user column (or id, for users) is ``user_id``."""
    counts: dict[str, int] = {}
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name in {"user_id"}]
            if table.name == "users":
                columns = [table.c.id]
            if not columns:
                continue
            where = or_(*(c == user_id for c in columns))
            stmt = select(func.count()).select_from(table).where(where)
            counts[table.name] = int(await session.scalar(stmt) or 0)
    return counts


async def generations(sessions: async_sessionmaker[AsyncSession]) -> list[Generation]:
    """Return every generation row, oldest first."""
    async with sessions() as session:
        return list((await session.scalars(select(Generation).order_by(Generation.id))).all())


def button_ids(message: dict[str, Any]) -> list[str]:
    """Return the custom ids of a message's buttons, in order."""
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def embed_fields(message: dict[str, Any]) -> dict[str, str]:
    """Return the first embed's fields by name."""
    return {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}


class GatedGenerator:
    """A generator whose ``generate`` waits for ``open``: jobs stay in the model thread."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """Wait for the gate (at most a minute), then draw."""
        self.entered.set()
        if not self.open.wait(timeout=60):
            raise RuntimeError("the test never opened the gate")
        return self._inner.generate(*args, **kwargs)
