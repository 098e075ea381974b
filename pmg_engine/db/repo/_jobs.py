"""Generation jobs and feedback."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import Feedback, Generation
from pmg_engine.db.repo._rows import replace_or_add
from pmg_engine.errors import InvalidInputError, NotFoundError
from pmg_engine.states import Kind


async def create_generation(
    *,
    session: AsyncSession,
    job_key: str,
    user_id: int,
    prompt: str,
    personalization_weight: float,
    seed: int,
    kind: Kind = Kind.STICKER,
    channel_id: int | None = None,
    guild_id: int | None = None,
    parent_id: int | None = None,
) -> tuple[Generation, bool]:
    """Create a queued generation, or return the existing one with the same ``job_key``.

    Returns ``(generation, created)``; a double submit never makes two rows.
    """
    if not job_key or len(job_key) > 100:
        raise InvalidInputError(f"job_key must have 1 to 100 characters, got {job_key!r}")
    existing = await session.scalar(select(Generation).where(Generation.job_key == job_key))
    if existing is not None:
        return existing, False
    generation = Generation(
        job_key=job_key,
        user_id=user_id,
        prompt=prompt,
        personalization_weight=personalization_weight,
        seed=seed,
        kind=kind,
        channel_id=channel_id,
        guild_id=guild_id,
        parent_id=parent_id,
    )
    try:
        # A savepoint: a concurrent submit of the same key loses the race without failing.
        async with session.begin_nested():
            session.add(generation)
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(select(Generation).where(Generation.job_key == job_key))
        if existing is None:
            raise
        return existing, False
    return generation, True


async def get_generation(*, session: AsyncSession, generation_id: int) -> Generation:
    """Return the generation or raise ``NotFoundError``."""
    generation = await session.get(Generation, generation_id)
    if generation is None:
        raise NotFoundError(f"no generation with id {generation_id} is stored")
    return generation


async def record_feedback(
    *, session: AsyncSession, user_id: int, generation_id: int, liked: bool
) -> Feedback:
    """Store a 👍 / 👎; voting again replaces the earlier vote."""
    await get_generation(session=session, generation_id=generation_id)
    return await replace_or_add(
        session, Feedback, {"user_id": user_id, "generation_id": generation_id}, {"liked": liked}
    )


async def user_generation_ids(
    *, session: AsyncSession, user_id: int, statuses: tuple[str, ...]
) -> list[int]:
    """Return the ids of the user's generations in one of ``statuses``, oldest first."""
    stmt = (
        select(Generation.id)
        .where(Generation.user_id == user_id, Generation.status.in_(statuses))
        .order_by(Generation.id)
    )
    return list((await session.scalars(stmt)).all())
