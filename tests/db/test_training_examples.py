"""Liked stickers and the history before them: what `pmg train implicit --from-database` reads."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo

Sessions = async_sessionmaker[AsyncSession]


async def _done_generation(session: AsyncSession, *, user_id: int, key: str, prompt: str) -> int:
    generation, _ = await repo.create_generation(
        session=session,
        job_key=key,
        user_id=user_id,
        prompt=prompt,
        personalization_weight=0.5,
        seed=1,
    )
    generation.status = "done"
    generation.output_key = f"{user_id}/{key}.png"
    generation.target_keywords = [prompt]
    await session.flush()
    return generation.id


async def test_liked_examples_pair_each_liked_sticker_with_the_lines_before_it(
    sessions: Sessions,
) -> None:
    """Only the owner's 👍 on a finished sticker counts; its history is what came before."""
    async with sessions() as session, session.begin():
        for user_id in (1, 2):
            await repo.upsert_user(session=session, user_id=user_id, name=f"u{user_id}")
        await repo.add_behaviour(
            session=session, user_id=1, kind="message", text='User said: "glossy 3d please"'
        )
        liked = await _done_generation(session, user_id=1, key="a", prompt="cat")
        disliked = await _done_generation(session, user_id=1, key="b", prompt="dog")
        others = await _done_generation(session, user_id=2, key="c", prompt="fox")
        await repo.record_feedback(session=session, user_id=1, generation_id=liked, liked=True)
        await repo.record_feedback(session=session, user_id=1, generation_id=disliked, liked=False)
        # A 👍 from someone else on user 2's sticker teaches nothing about user 2.
        await repo.record_feedback(session=session, user_id=1, generation_id=others, liked=True)
    async with sessions() as session:
        examples = await repo.liked_examples(session=session, history_window=10)
    assert [(e.user_id, e.generation_id, e.target_text) for e in examples] == [(1, liked, "cat")]
    assert examples[0].history == ['User said: "glossy 3d please"']
    assert examples[0].output_key == "1/a.png"
