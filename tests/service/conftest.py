"""The service on a real migrated SQLite database with tiny real models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.generators import DiffusersGenerator
from pmg_engine.implicit import PooledEncoderEmbedder
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.scoring.clip import ClipScorer
from pmg_engine.service import EngineModels, PMGService, ServiceConfig
from tests.fakes import RecordingChatModel


@pytest.fixture
def chat_model() -> RecordingChatModel:
    """A keyword model that proposes grounded and invented keywords."""
    return RecordingChatModel(responses=["1. pastel colours\n2. dragons\n3. cats"])


@pytest.fixture
def make_service(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    tiny_generator: DiffusersGenerator,
    tiny_scorer: ClipScorer,
    chat_model: RecordingChatModel,
    tmp_path: Path,
) -> Any:
    """Build a service with the tiny models; keyword arguments override models or config."""

    def build(**overrides: Any) -> PMGService:
        models = EngineModels(
            preference=PreferenceKeywordExtractor(chat_model, num_keywords=4),
            target=TargetKeywordExtractor(None),
            generator=overrides.pop("generator", tiny_generator),
            scorer=overrides.pop("scorer", tiny_scorer),
            embedder=PooledEncoderEmbedder(tiny_generator.text_encoder, num_tokens=2),
            upscaler=overrides.pop("upscaler", None),
            llm_model_id="recording-fake",
        )
        config = ServiceConfig(
            outputs_dir=tmp_path / "outputs",
            num_inference_steps=2,
            guidance_scale=3.0,
            **overrides,
        )
        return PMGService(sessions=sqlite_sessions, models=models, config=config)

    return build
