"""Hostile text through the service on SQLite and PostgreSQL: stored clean, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.chat import ChatReplier
from pmg_engine.db import repo
from pmg_engine.db.models import Message, User
from pmg_engine.generators import DiffusersGenerator
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.scoring.clip import ClipScorer
from pmg_engine.service import EngineModels, GenerationRequest, PMGService, ServiceConfig
from pmg_engine.service._service import MAX_MESSAGE_CHARS

Sessions = async_sessionmaker[AsyncSession]
HOSTILE = "I like \x00cats\u202e and caf\udcff\x1b[2J e\u0301"


@pytest.fixture
def service(
    sessions: Sessions,
    tiny_generator: DiffusersGenerator,
    tiny_scorer: ClipScorer,
    tmp_path: Path,
) -> PMGService:
    """A service with the tiny models on the backend under test."""
    models = EngineModels(
        preference=PreferenceKeywordExtractor(None, num_keywords=4),
        target=TargetKeywordExtractor(None),
        generator=tiny_generator,
        scorer=tiny_scorer,
    )
    config = ServiceConfig(outputs_dir=tmp_path / "outputs", num_inference_steps=2)
    return PMGService(sessions=sessions, models=models, config=config)


async def test_chat_message_with_nul_surrogates_and_bidi_is_stored_clean(
    service: PMGService, sessions: Sessions
) -> None:
    """A NUL, a lone surrogate, an escape and an RTL override: stored clean, in NFC."""
    turn = await service.converse(
        ChatReplier(None), user_id=5, user_name="b\x00ob\udcff", content=HOSTILE, source="local"
    )
    assert turn.reply
    assert turn.cut_to is None
    async with sessions() as session:
        stored = (
            await session.scalars(select(Message.content).where(Message.role == "user"))
        ).one()
        user = await session.get(User, 5)
    assert stored == "I like cats and caf\ufffd[2J \u00e9"
    assert user is not None
    assert user.name == "bob\ufffd"


async def test_long_message_is_cut_and_the_turn_says_so(service: PMGService) -> None:
    """A 1 MB message is stored as its first MAX_MESSAGE_CHARS characters, and flagged."""
    turn = await service.converse(
        ChatReplier(None), user_id=6, user_name="eve", content="x" * 1_000_000, source="local"
    )
    assert turn.cut_to == MAX_MESSAGE_CHARS


async def test_sticker_prompt_and_pin_with_hostile_bytes(
    service: PMGService, sessions: Sessions
) -> None:
    """A prompt with NUL and a pin with an RTL override draw and store clean text."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=7, name="m\x00al\u202elory")
        rule = await repo.set_keyword_rule(
            session=session, user_id=7, keyword="pas\x00tel\u202e", rule="pin"
        )
    assert rule.keyword == "pastel"
    result = await service.generate(
        GenerationRequest(user_id=7, user_name="mal\udcfflory", prompt="a c\x00at\u202e\x07")
    )
    assert result.prompt == "a cat"
    assert "pastel" in result.preference_keywords
    assert result.output_path.is_file()


async def test_database_errors_never_quote_the_parameters(sessions: Sessions) -> None:
    """A statement the database refuses raises an error whose text holds no parameter."""
    secret = "my secret diary entry"
    with pytest.raises(SQLAlchemyError) as caught:
        async with sessions() as session, session.begin():
            # No such user: the foreign key refuses the row.
            await repo.add_message(session=session, user_id=424242, role="user", content=secret)
    assert secret not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
