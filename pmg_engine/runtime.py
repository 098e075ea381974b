"""Build the engine's models from settings, once per process (composition-root helper)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pmg_engine.errors import PMGError
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.service import EngineModels, ServiceConfig

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from config import Settings
    from pmg_engine.generators.text_encoders import TextEncoder
    from pmg_engine.implicit import ImplicitEmbedder
    from pmg_engine.models.upscaler import Upscaler
    from pmg_engine.scoring import Scorer

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
BUILTIN_GENERATOR = ASSETS / "generator"
BUILTIN_SCORER = ASSETS / "scorer"
BUILTIN_REFERENCE = ASSETS / "reference-index"
BUILTIN_IMPLICIT = ASSETS / "implicit"
BUILTIN_UPSCALER = ASSETS / "upscaler"
BUILTIN = "builtin"
NO_UPSCALER = "none"


@dataclass
class LoadedModels:
    """The models plus one sentence per part that could not be loaded (shown to the user)."""

    models: EngineModels
    llm: BaseChatModel | None
    notes: list[str] = field(default_factory=list)


def resolve_generator(name: str) -> str:
    """Map ``builtin`` to the shipped model folder; anything else is a path or a hub id."""
    return str(BUILTIN_GENERATOR) if name == BUILTIN else name


def quiet_model_libraries() -> None:
    """Keep transformers' and diffusers' load reports and progress bars off the user's screen.

    Their warnings (unused pooler weights, optional torchvision, pipeline loading bars) say
    nothing a user of the bot can act on; errors still reach the log.
    """
    import diffusers
    import transformers

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()


def build_models(settings: Settings, *, with_generator: bool = True) -> LoadedModels:
    """Load the chat model, keyword extractors, generator, scorer and implicit embedder."""
    quiet_model_libraries()
    from pmg_engine.keywords.merge import MiniLMPhraseEncoder, SynonymMerger
    from pmg_engine.llm import LocalModelMissing, build_chat_model

    notes: list[str] = []
    # 1. The chat model; the keyword extractors fall back to the user's own words without it.
    llm: BaseChatModel | None = None
    try:
        llm = build_chat_model(settings.llm, models_dir=settings.storage.models_dir)
    except LocalModelMissing as exc:
        notes.append(f"{exc}; keywords come from your own words meanwhile")
    models = EngineModels(
        preference=PreferenceKeywordExtractor(
            llm,
            num_keywords=settings.llm.num_keywords,
            blocked_terms=settings.discord.prompt_blocklist,
            merger=SynonymMerger(MiniLMPhraseEncoder()),
        ),
        target=TargetKeywordExtractor(
            llm, ask_model_for_short_requests=settings.llm.provider != "local"
        ),
        llm_model_id=settings.llm.model if llm is not None else None,
    )
    if not with_generator:
        return LoadedModels(models=models, llm=llm, notes=notes)
    # 2. Generator and scorer; a missing one is a sentence, never noise passed off as a result.
    cfg = settings.generator
    try:
        from pmg_engine.generators import GeneratorSpec, load_generator

        spec = GeneratorSpec(
            model=resolve_generator(cfg.model),
            device=cfg.device,
            dtype=cfg.dtype,
            allow_download=cfg.allow_hub_download,
        )
        models.generator = load_generator(spec)
        models.embedder = _load_embedder(settings, models.generator.text_encoder, notes)
    except PMGError as exc:
        notes.append(str(exc))
    models.upscaler = _load_upscaler(cfg.upscaler, notes)
    if cfg.reference_guided:
        from pmg_engine.reference import ReferenceIndex, ReferenceIndexError

        folder = BUILTIN_REFERENCE if cfg.reference_index == BUILTIN else Path(cfg.reference_index)
        try:
            models.reference = ReferenceIndex.load(folder)
        except (ReferenceIndexError, FileNotFoundError) as exc:
            notes.append(f"reference-guided mode is off: {exc}")
    try:
        models.scorer = _load_scorer(settings)
    except (PMGError, FileNotFoundError) as exc:
        notes.append(f"{exc}; the first candidate is used without scoring")
    return LoadedModels(models=models, llm=llm, notes=notes)


def _load_embedder(settings: Settings, encoder: TextEncoder, notes: list[str]) -> ImplicitEmbedder:
    """Return the trained soft-prompt embedder, or the pooled one with a note saying why."""
    from pmg_engine.implicit import PooledEncoderEmbedder, SoftPromptEmbedder
    from pmg_engine.llm.local import SMOLLM2_FOLDER

    pooled = PooledEncoderEmbedder(encoder)
    choice = settings.generator.implicit
    if choice == "pooled":
        return pooled
    folder = BUILTIN_IMPLICIT if choice == BUILTIN else Path(choice)
    try:
        embedder = SoftPromptEmbedder.load(
            folder, llm_dir=settings.storage.models_dir / SMOLLM2_FOLDER
        )
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"implicit preferences use pooled encoder states: {exc}")
        return pooled
    if embedder.text_space != encoder.model_id:
        notes.append(
            f"implicit preferences use pooled encoder states: the soft-prompt module at "
            f"{folder} was trained for {embedder.text_space!r}, the generator encodes text "
            f"as {encoder.model_id!r} (retrain it with `pmg train implicit`)"
        )
        return pooled
    return embedder


def _load_upscaler(choice: str, notes: list[str]) -> Upscaler | None:
    """Return the learned sticker upscaler, or ``None`` (resampling) with a note when missing."""
    if choice == NO_UPSCALER:
        return None
    from pmg_engine.models.upscaler import load_upscaler

    folder = BUILTIN_UPSCALER if choice == BUILTIN else Path(choice)
    try:
        return load_upscaler(folder)
    except (OSError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        notes.append(f"small pictures are enlarged by resampling: {first_line}")
        return None


def _load_scorer(settings: Settings) -> Scorer:
    cfg = settings.generator
    if cfg.scorer == BUILTIN:
        from pmg_engine.models.scorer import load_scorer

        return load_scorer(BUILTIN_SCORER)
    from pmg_engine.scoring.clip import ClipScorer

    return ClipScorer.from_pretrained(cfg.scorer, allow_download=cfg.allow_hub_download)


def service_config(settings: Settings) -> ServiceConfig:
    """Return the service configuration the settings describe."""
    return ServiceConfig(
        outputs_dir=settings.storage.outputs_dir,
        num_inference_steps=settings.generator.num_inference_steps,
        guidance_scale=settings.generator.guidance_scale,
        max_prompt_chars=settings.discord.max_prompt_chars,
        learning_opt_in_default=settings.discord.learning_opt_in_default,
        reference_strength=settings.generator.reference_strength,
        weight_mode=settings.generator.weight_mode,
    )


@asynccontextmanager
async def open_sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Open the configured database until exit; the embedded SQLite default migrates itself."""
    from pmg_engine.db import migrate
    from pmg_engine.db.engine import create_engine, session_factory

    if settings.database.url is None:
        await migrate.upgrade(settings.database_url)
    engine = create_engine(
        settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
