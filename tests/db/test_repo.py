"""Repository round trips on a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import unicodedata
from datetime import UTC

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.db.models import UserSettings
from pmg_engine.errors import InvalidInputError, NotFoundError

BIG_SNOWFLAKE = 1_234_567_890_123_456_789  # far above 2**53: must not pass through a float
ODD_TEXT = "ça va? 🐱☕ — \u200bzero-width, RTL \u05e9\u05dc\u05d5\u05dd, combining e\u0301, 𝔘𝔫𝔦"  # noqa: RUF001 (odd unicode on purpose)

Sessions = async_sessionmaker[AsyncSession]


async def test_snowflake_and_unicode_round_trip(sessions: Sessions) -> None:
    """A snowflake above 2**53, odd unicode and a 1 MB message come back unchanged."""
    big_message = ("🐱 cats and coffee " * 60_000)[:1_000_000]
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=BIG_SNOWFLAKE, name=ODD_TEXT[:50])
        await repo.add_message(
            session=session,
            user_id=BIG_SNOWFLAKE,
            role="user",
            content=ODD_TEXT,
            channel_id=BIG_SNOWFLAKE - 1,
            guild_id=BIG_SNOWFLAKE - 2,
            discord_message_id=BIG_SNOWFLAKE - 3,
        )
        await repo.add_message(
            session=session, user_id=BIG_SNOWFLAKE, role="assistant", content=big_message
        )
    async with sessions() as session:
        user = await repo.require_user(session=session, user_id=BIG_SNOWFLAKE)
        assert user.id == BIG_SNOWFLAKE
        # Names pass through clean_text: the same text, in NFC.
        assert user.name == unicodedata.normalize("NFC", ODD_TEXT[:50])
        assert user.created_at.tzinfo is not None
        assert user.created_at.utcoffset() == UTC.utcoffset(None)
        first, second = await repo.recent_messages(session=session, user_id=BIG_SNOWFLAKE, limit=5)
        assert first.content == ODD_TEXT
        assert (first.channel_id, first.guild_id, first.discord_message_id) == (
            BIG_SNOWFLAKE - 1,
            BIG_SNOWFLAKE - 2,
            BIG_SNOWFLAKE - 3,
        )
        assert second.content == big_message
        assert len(second.content) == 1_000_000


async def test_new_user_gets_default_settings(sessions: Sessions) -> None:
    """Creating a user creates their settings with the configured learning opt-in."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=7, name="ada", learning_opt_in=False)
    async with sessions() as session:
        settings = await repo.get_settings(session=session, user_id=7)
        assert settings.learning_opt_in is False
        assert settings.personalization_weight == pytest.approx(2 / 3)


@pytest.mark.parametrize("weight", [-0.01, 1.5, float("nan"), float("inf")])
async def test_weight_out_of_range_is_refused_and_keeps_the_old_value(
    sessions: Sessions, weight: float
) -> None:
    """An out-of-range weight raises a clear error and the stored weight stays."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=8, name="bo")
        await repo.set_personalization_weight(session=session, user_id=8, weight=0.25)
    async with sessions() as session:
        with pytest.raises(InvalidInputError, match="between 0 and 1"):
            await repo.set_personalization_weight(session=session, user_id=8, weight=weight)
    async with sessions() as session:
        settings = await repo.get_settings(session=session, user_id=8)
        assert settings.personalization_weight == 0.25


async def test_database_enforces_the_weight_range(sessions: Sessions) -> None:
    """Even a write that skips the repository cannot store a weight outside [0, 1]."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=9, name="cy")
    async with sessions() as session:
        settings = await session.get(UserSettings, 9)
        assert settings is not None
        settings.personalization_weight = 3.0
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_keyword_rules_latest_rule_wins(sessions: Sessions) -> None:
    """Pinning then banning the same keyword leaves one rule: the ban, normalised."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=10, name="di")
        await repo.set_keyword_rule(session=session, user_id=10, keyword="  Pastel  ", rule="pin")
        await repo.set_keyword_rule(session=session, user_id=10, keyword="pastel", rule="ban")
        await repo.set_keyword_rule(session=session, user_id=10, keyword="Cats", rule="pin")
    async with sessions() as session:
        rules = await repo.list_keyword_rules(session=session, user_id=10)
        assert {(r.keyword, r.rule) for r in rules} == {("pastel", "ban"), ("cats", "pin")}


@pytest.mark.parametrize("keyword", ["", "   ", "!!!", "x" * 65])
async def test_bad_keywords_are_refused(sessions: Sessions, keyword: str) -> None:
    """Empty, symbol-only and over-long keywords are refused with a clear error."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=11, name="ed")
        with pytest.raises(InvalidInputError):
            await repo.set_keyword_rule(session=session, user_id=11, keyword=keyword, rule="pin")


async def test_profiles_are_versioned_and_embeddings_round_trip(sessions: Sessions) -> None:
    """Each save appends a version; the float32 embedding comes back bit-exact."""
    embedding = np.random.default_rng(0).standard_normal((4, 384)).astype(np.float32)
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=12, name="fi")
        first = await repo.save_profile(
            session=session, user_id=12, keywords=["cats"], last_behaviour_id=3
        )
        second = await repo.save_profile(
            session=session,
            user_id=12,
            keywords=["cats", "pastel"],
            last_behaviour_id=9,
            embedding=embedding,
            embedding_model="minilm-pooled",
        )
        assert (first.version, second.version) == (1, 2)
    async with sessions() as session:
        latest = await repo.latest_profile(session=session, user_id=12)
        assert latest is not None
        assert latest.embedding is not None
        assert latest.embedding_dim == 384
        restored = repo.embedding_from_bytes(latest.embedding, latest.embedding_dim)
        np.testing.assert_array_equal(restored, embedding)
        history = await repo.profile_history(session=session, user_id=12)
        assert [p.keywords for p in history] == [["cats"], ["cats", "pastel"]]


async def test_behaviours_after_is_bounded_and_ordered(sessions: Sessions) -> None:
    """Only behaviours after the cursor come back, newest `limit` of them, oldest first."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=13, name="gu")
        ids = [
            (await repo.add_behaviour(session=session, user_id=13, kind="message", text=f"m{i}")).id
            for i in range(10)
        ]
    async with sessions() as session:
        rows = await repo.behaviours_after(session=session, user_id=13, after_id=ids[2], limit=4)
        assert [r.text for r in rows] == ["m6", "m7", "m8", "m9"]
        assert await repo.latest_behaviour_id(session=session, user_id=13) == ids[-1]


async def test_generation_job_key_is_idempotent(sessions: Sessions) -> None:
    """Submitting the same job key twice returns the first row and creates no second."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=14, name="ha")
        first, created = await repo.create_generation(
            session=session,
            job_key="ix-1",
            user_id=14,
            prompt="a cat",
            personalization_weight=0.5,
            seed=BIG_SNOWFLAKE,
        )
        again, created_again = await repo.create_generation(
            session=session,
            job_key="ix-1",
            user_id=14,
            prompt="other",
            personalization_weight=1,
            seed=1,
        )
        assert created
        assert not created_again
        assert again.id == first.id
        assert again.prompt == "a cat"
    async with sessions() as session:
        stored = await repo.get_generation(session=session, generation_id=first.id)
        assert stored.seed == BIG_SNOWFLAKE
        assert stored.status == "queued"


async def test_feedback_vote_is_replaced(sessions: Sessions) -> None:
    """Voting twice on the same generation keeps one row with the latest vote."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=15, name="io")
        generation, _ = await repo.create_generation(
            session=session,
            job_key="ix-2",
            user_id=15,
            prompt="a dog",
            personalization_weight=0.5,
            seed=1,
        )
        await repo.record_feedback(
            session=session, user_id=15, generation_id=generation.id, liked=True
        )
        vote = await repo.record_feedback(
            session=session, user_id=15, generation_id=generation.id, liked=False
        )
    assert vote.liked is False
    async with sessions() as session:
        with pytest.raises(NotFoundError):
            await repo.record_feedback(session=session, user_id=15, generation_id=999, liked=True)


async def test_unknown_user_is_a_clear_error(sessions: Sessions) -> None:
    """Asking for a user that does not exist raises NotFoundError naming the id."""
    async with sessions() as session:
        with pytest.raises(NotFoundError, match="424242"):
            await repo.get_settings(session=session, user_id=424242)
        with pytest.raises(InvalidInputError):
            await repo.get_user(session=session, user_id=2**64)


async def test_concurrent_submits_of_one_job_key_make_one_row(sessions: Sessions) -> None:
    """Two sessions racing to create the same job key end with one row and no error."""
    import asyncio

    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=16, name="jo")

    async def submit() -> tuple[int, bool]:
        async with sessions() as session, session.begin():
            generation, created = await repo.create_generation(
                session=session,
                job_key="race-1",
                user_id=16,
                prompt="a cat",
                personalization_weight=0.5,
                seed=1,
            )
            await asyncio.sleep(0.05)  # hold the transaction so the other one overlaps
            return generation.id, created

    results = await asyncio.gather(submit(), submit(), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    ids = {r[0] for r in results if not isinstance(r, BaseException)}
    assert len(ids) == 1
