"""The bot on a real migrated SQLite database, tiny real models and the Discord recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import BotDeps, PMGBot
from config import Settings, load_settings
from pmg_engine.chat import ChatReplier
from pmg_engine.generators import DiffusersGenerator
from pmg_engine.implicit import PooledEncoderEmbedder
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.queue.inprocess import InProcessQueue
from pmg_engine.scoring.clip import ClipScorer
from pmg_engine.service import EngineModels, PMGService, ServiceConfig
from tests.bot.harness import Clock, Harness, Recorder, p, user_payloads
from tests.bot.support import ADA, ALICE, BOB, BOT_USER, CHAT_REPLY, OWNER, GatedGenerator
from tests.fakes import RecordingChatModel

TEST_DISCORD_SETTINGS: dict[str, Any] = {
    "owner_ids": [OWNER.id],
    "cooldown_s": 0,
    "daily_quota": 50,
    "max_concurrent_jobs": 2,
    "prompt_blocklist": ["gore"],
    "progress_edit_interval_s": 0,
}


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that changes the bot's Discord settings for one test."""
    config.addinivalue_line("markers", "discord_settings(**values): DiscordSettings overrides")


@pytest.fixture
def keyword_model() -> RecordingChatModel:
    """The keyword model: proposes keywords, grounded against the user's own words."""
    return RecordingChatModel(responses=["1. pastel colours\n2. cats\n3. dragons"])


@pytest.fixture
def chat_model() -> RecordingChatModel:
    """The chat model behind the replies."""
    return RecordingChatModel(responses=[CHAT_REPLY])


@pytest.fixture
def bot_settings(request: pytest.FixtureRequest) -> Settings:
    """The test settings, with this test's ``discord_settings`` marker applied."""
    marker = request.node.get_closest_marker("discord_settings")
    overrides = {**TEST_DISCORD_SETTINGS, **(marker.kwargs if marker else {})}
    return load_settings(discord=overrides, queue={"job_timeout_s": 120})


@pytest.fixture
def service(
    bot_settings: Settings,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    tiny_generator: DiffusersGenerator,
    tiny_scorer: ClipScorer,
    keyword_model: RecordingChatModel,
    tmp_path: Path,
) -> PMGService:
    """The real service with the tiny models, two denoising steps."""
    models = EngineModels(
        preference=PreferenceKeywordExtractor(keyword_model, num_keywords=4),
        target=TargetKeywordExtractor(None),
        generator=tiny_generator,
        scorer=tiny_scorer,
        embedder=PooledEncoderEmbedder(tiny_generator.text_encoder, num_tokens=2),
        llm_model_id="recording-fake",
    )
    config = ServiceConfig(
        outputs_dir=tmp_path / "outputs",
        num_inference_steps=2,
        guidance_scale=3.0,
        preference_grid=(1.0,),
        max_prompt_chars=bot_settings.discord.max_prompt_chars,
        learning_opt_in_default=bot_settings.discord.learning_opt_in_default,
    )
    return PMGService(sessions=sqlite_sessions, models=models, config=config)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """Discord's HTTP side replaced by the recorder, and discord.py's clock by the test's."""
    clock, snowflakes = Clock(), p.Snowflakes()
    recorder = Recorder(clock, snowflakes, BOT_USER)
    recorder.users.update(user_payloads(ALICE, BOB, ADA, OWNER))

    async def http_request(_http: Any, route: Any, **kwargs: Any) -> Any:
        return await recorder.http_request(route, **kwargs)

    async def webhook_request(_adapter: Any, route: Any, *args: Any, **kwargs: Any) -> Any:
        return await recorder.webhook_request(route, *args, **kwargs)

    monkeypatch.setattr(discord.utils, "utcnow", clock.now)
    monkeypatch.setattr(discord.http.HTTPClient, "request", http_request)
    monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook_request)
    yield recorder
    assert recorder.unexpected == [], "the bot made requests Discord would not understand"


@pytest.fixture
async def harness(
    bot_settings: Settings,
    service: PMGService,
    chat_model: RecordingChatModel,
    recorder: Recorder,
) -> AsyncIterator[Harness]:
    """A logged-in bot whose Discord side is the recorder."""

    async def make_bot() -> PMGBot:
        queue = InProcessQueue(service, settings=bot_settings.queue, close_timeout_s=10)
        await queue.start()
        deps = BotDeps.from_settings(
            bot_settings, service=service, queue=queue, replier=ChatReplier(chat_model)
        )
        return PMGBot(deps)

    harness = Harness(make_bot, recorder, recorder.clock, recorder.snowflakes, service)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
def gate(service: PMGService) -> Iterator[GatedGenerator]:
    """The tiny generator behind a gate that a test opens and closes (a slow GPU)."""
    assert service.models.generator is not None
    gated = GatedGenerator(service.models.generator)
    service.models.generator = gated
    try:
        yield gated
    finally:
        gated.open.set()


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads; on a shared 2-core box they only spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
