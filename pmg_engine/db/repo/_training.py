"""What a deployment's own users teach the soft-prompt module: liked stickers and their history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import Behaviour, Feedback, Generation
from pmg_engine.states import JobStatus


@dataclass(frozen=True)
class LikedExample:
    """A finished generation its own user liked, with the behaviour lines written before it."""

    user_id: int
    generation_id: int
    output_key: str
    target_text: str
    history: list[str]


async def liked_examples(*, session: AsyncSession, history_window: int) -> list[LikedExample]:
    """Return every liked, finished generation with up to ``history_window`` earlier lines."""
    stmt = (
        select(Generation)
        .join(Feedback, Feedback.generation_id == Generation.id)
        .where(
            Feedback.liked.is_(True),
            Feedback.user_id == Generation.user_id,
            Generation.status == JobStatus.DONE,
            Generation.output_key.is_not(None),
        )
        .order_by(Generation.id)
    )
    examples = []
    for generation in (await session.scalars(stmt)).unique():
        # The history is what the user had said and done before asking for this sticker.
        lines_stmt = (
            select(Behaviour.text)
            .where(
                Behaviour.user_id == generation.user_id,
                Behaviour.created_at <= generation.created_at,
                (Behaviour.generation_id.is_(None)) | (Behaviour.generation_id != generation.id),
            )
            .order_by(Behaviour.id.desc())
            .limit(history_window)
        )
        history = list(reversed((await session.scalars(lines_stmt)).all()))
        words = list(generation.target_keywords) or [generation.prompt]
        examples.append(
            LikedExample(
                user_id=generation.user_id,
                generation_id=generation.id,
                output_key=str(generation.output_key),
                target_text=", ".join(w for w in words if w) or "sticker",
                history=history,
            )
        )
    return examples
