"""Row helpers shared by the repository modules."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import Base
from pmg_engine.db.types import utcnow

R = TypeVar("R", bound=Base)


async def replace_or_add(
    session: AsyncSession, model: type[R], key: dict[str, Any], values: dict[str, Any]
) -> R:
    """Return the ``model`` row with ``key``: ``values`` and ``created_at`` renewed, or a new row.

    For tables with one row per key whose latest write wins (a vote, a keyword rule).
    """
    row = await session.scalar(select(model).filter_by(**key))
    if row is None:
        row = model(**key, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        setattr(row, "created_at", utcnow())  # noqa: B010 - every such table has the column
    await session.flush()
    return row
