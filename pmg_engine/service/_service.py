"""The PMG service: one request end to end, used by the bot, the local chat and the worker."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine import behaviours as bh
from pmg_engine.db import repo
from pmg_engine.db.models import Generation
from pmg_engine.errors import InvalidInputError, NotFoundError, PMGError
from pmg_engine.keywords.text import clean_keyword
from pmg_engine.queue import jobs
from pmg_engine.service._profile import ProfileUpdater
from pmg_engine.service._refresh import ProfileRefresher
from pmg_engine.service._render import Job, Renderer
from pmg_engine.service._types import (
    ChatTurn,
    EngineModels,
    GenerationRequest,
    GenerationResult,
    ProfileUpdate,
    ProgressCallback,
    ServiceConfig,
)
from pmg_engine.service._users import TasteView, UserService
from pmg_engine.states import JobStatus, Kind
from pmg_engine.text import clean_text, clip

if TYPE_CHECKING:
    from pmg_engine.chat import ChatReplier
    from pmg_engine.implicit import StyleGuess

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000


async def _store_event(
    session: AsyncSession,
    *,
    user_id: int,
    event: bh.BehaviourEvent,
    message_id: int | None = None,
    generation_id: int | None = None,
) -> None:
    """Store a behaviour event with its links (the one way the service records behaviour)."""
    await repo.add_behaviour(
        session=session,
        user_id=user_id,
        kind=event.kind,
        text=event.text,
        data=event.data,
        message_id=message_id,
        generation_id=generation_id,
    )


class GenerationFailed(PMGError):
    """A generation could not be completed; the message is safe to show."""


class PMGService:
    """Records behaviour, keeps profiles current and generates personalized stickers."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        models: EngineModels,
        config: ServiceConfig,
        users: UserService | None = None,
    ) -> None:
        self.sessions = sessions
        self.models = models
        self.config = config
        self.users = users or UserService(
            sessions=sessions,
            outputs_dir=config.outputs_dir,
            learning_opt_in_default=config.learning_opt_in_default,
        )
        self.profiles = ProfileUpdater(sessions=sessions, models=models, config=config)
        # Started and closed by the composition root (the bot, `pmg chat`); until then a
        # schedule is a no-op and the behaviours wait, stored, for the next update.
        self.refresher = ProfileRefresher(
            self._refresh_profile, delay_s=config.profile_refresh_delay_s
        )
        self.renderer = Renderer(models=models, config=config)

    # -- behaviour ------------------------------------------------------------------------------

    async def record_message(
        self,
        *,
        user_id: int,
        user_name: str,
        content: str,
        role: str = "user",
        source: str = "discord",
        channel_id: int | None = None,
        guild_id: int | None = None,
        discord_message_id: int | None = None,
    ) -> bool:
        """Store a chat turn; learn from it only if the user opted in. Return whether it learned.

        The text is cleaned (``clean_text``) and cut to ``MAX_MESSAGE_CHARS``.
        """
        content = clip(clean_text(content), MAX_MESSAGE_CHARS).text
        if not content.strip():
            raise InvalidInputError("an empty message cannot be stored")
        async with self.sessions() as session, session.begin():
            await self._user(session, user_id=user_id, name=user_name, source=source)
            message = await repo.add_message(
                session=session,
                user_id=user_id,
                role=role,
                content=content,
                channel_id=channel_id,
                guild_id=guild_id,
                discord_message_id=discord_message_id,
            )
            settings = await repo.get_settings(session=session, user_id=user_id)
            if role != "user" or not settings.learning_opt_in:
                return False
            for event in bh.message_events(content):
                await _store_event(session, user_id=user_id, event=event, message_id=message.id)
            return True

    async def record_feedback(self, *, user_id: int, generation_id: int, liked: bool) -> None:
        """Store a 👍 / 👎 and, with learning on, a behaviour for the next profile update."""
        async with self.sessions() as session, session.begin():
            generation = await repo.get_generation(session=session, generation_id=generation_id)
            await repo.record_feedback(
                session=session, user_id=user_id, generation_id=generation_id, liked=liked
            )
            settings = await repo.get_settings(session=session, user_id=user_id)
            if settings.learning_opt_in:
                event = bh.feedback_event(
                    prompt=generation.prompt,
                    liked=liked,
                    keywords=[*generation.target_keywords, *generation.preference_keywords],
                    generation_id=generation_id,
                )
                await _store_event(
                    session, user_id=user_id, event=event, generation_id=generation_id
                )
                learned = True
            else:
                learned = False
        if learned:
            self.refresher.schedule(user_id)

    async def current_keywords(self, *, user_id: int) -> list[str]:
        """Return the user's keywords as a reply sees them: pins first, learned minus banned."""
        profile = await self.profiles.latest(user_id=user_id)
        async with self.sessions() as session:
            rules = await repo.list_keyword_rules(session=session, user_id=user_id)
        return self.renderer.preference_keywords(
            profile_keywords=profile.keywords if profile else [],
            pinned=[r.keyword for r in rules if r.rule == "pin"],
            banned=[r.keyword for r in rules if r.rule == "ban"],
            target_keywords=[],
        )

    async def preferred_style(self, *, user_id: int) -> StyleGuess | None:
        """Return the look the engine believes the user prefers, with its confidence."""
        return await self.profiles.style(user_id=user_id)

    async def taste(self, *, user_id: int) -> TasteView:
        """Bring the user's profile up to date; return what is stored and the look it shows."""
        await self.update_profile(user_id=user_id)
        report = await self.users.report(user_id=user_id)
        style = await self.preferred_style(user_id=user_id)
        return TasteView(report=report, look=style.description if style else None)

    async def converse(
        self,
        replier: ChatReplier,
        *,
        user_id: int,
        user_name: str,
        content: str,
        source: str = "discord",
        channel_id: int | None = None,
        guild_id: int | None = None,
        discord_message_id: int | None = None,
    ) -> ChatTurn:
        """Store a message, answer it from a short window and the user's keywords, store that."""
        clipped = clip(clean_text(content), MAX_MESSAGE_CHARS)
        content = clipped.text
        learned = await self.record_message(
            user_id=user_id,
            user_name=user_name,
            content=content,
            source=source,
            channel_id=channel_id,
            guild_id=guild_id,
            discord_message_id=discord_message_id,
        )
        async with self.sessions() as session:
            turns = await repo.recent_messages(
                session=session, user_id=user_id, limit=self.config.chat_window
            )
        keywords = await self.current_keywords(user_id=user_id)
        reply = await asyncio.to_thread(
            replier.reply, turns=[(t.role, t.content) for t in turns], keywords=keywords
        )
        await self.record_message(
            user_id=user_id,
            user_name=user_name,
            content=reply,
            role="assistant",
            source=source,
            channel_id=channel_id,
            guild_id=guild_id,
        )
        if learned:
            self.refresher.schedule(user_id)
        return ChatTurn(
            reply=reply, learned=learned, cut_to=MAX_MESSAGE_CHARS if clipped.cut else None
        )

    async def update_profile(self, *, user_id: int) -> ProfileUpdate:
        """Bring the user's profile up to date; a no-op (no LLM call) without new behaviour."""
        return await self.profiles.update(user_id=user_id)

    async def _refresh_profile(self, user_id: int) -> None:
        update = await self.profiles.update(user_id=user_id)
        if update.updated:
            log.debug("profile of user %s refreshed to v%s", user_id, update.version)

    # -- generation ----------------------------------------------------------------------------

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        """Return the request with a clean prompt and a ``Kind``, or raise ``InvalidInputError``.

        The one check of a request: ``submit`` runs it, and an adapter may run it first to
        refuse before it answers (checking a checked request changes nothing).
        """
        try:
            kind = Kind(request.kind)
        except ValueError:
            raise InvalidInputError(
                f"kind must be {' or '.join(Kind)}, got {request.kind!r}"
            ) from None
        request = GenerationRequest(**{**request.__dict__, "kind": kind})
        weight = request.personalization_weight
        if weight is not None and (not math.isfinite(weight) or not 0 <= weight <= 1):
            raise InvalidInputError(f"the weight must be between 0 and 1, got {weight}")
        name = request.user_name
        if name is not None:
            name = " ".join(clean_text(name).split()) or None
        if request.prompt is None:
            return GenerationRequest(**{**request.__dict__, "user_name": name})
        prompt = " ".join(clean_text(request.prompt).split())
        if not prompt or clean_keyword(prompt, max_words=10_000, max_chars=10_000) is None:
            raise InvalidInputError("describe what to draw with at least one word")
        if len(prompt) > self.config.max_prompt_chars:
            raise InvalidInputError(
                f"the prompt is {len(prompt)} characters; the limit is "
                f"{self.config.max_prompt_chars}"
            )
        return GenerationRequest(**{**request.__dict__, "prompt": prompt, "user_name": name})

    async def submit(self, request: GenerationRequest) -> tuple[int, bool]:
        """Validate and record a queued generation; return ``(id, created)`` (idempotent)."""
        request = self.validate(request)
        seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
        job_key = request.job_key or f"local-{request.user_id}-{time.time_ns()}"
        async with self.sessions() as session, session.begin():
            await self._user(
                session,
                user_id=request.user_id,
                name=request.user_name or str(request.user_id),
                source="local" if request.user_id < 0 else "discord",
            )
            settings = await repo.get_settings(session=session, user_id=request.user_id)
            weight = request.personalization_weight
            generation, created = await repo.create_generation(
                session=session,
                job_key=job_key,
                user_id=request.user_id,
                prompt=request.prompt or "",
                personalization_weight=settings.personalization_weight
                if weight is None
                else weight,
                seed=seed,
                kind=request.kind,
                channel_id=request.channel_id,
                guild_id=request.guild_id,
                parent_id=request.parent_id,
            )
            if (
                created
                and request.prompt
                and settings.learning_opt_in
                and request.parent_id is None
            ):
                event = bh.sticker_request_event(request.prompt, kind=request.kind)
                await _store_event(
                    session, user_id=request.user_id, event=event, generation_id=generation.id
                )
            return generation.id, created

    async def generate(
        self,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback | None = None,
        worker_id: str | None = None,
    ) -> GenerationResult:
        """Submit and run one request in this process (the embedded default, no queue)."""
        generation_id, _ = await self.submit(request)
        sessions = self.sessions
        # 1. Start the job (a finished one returns its stored result: runs are idempotent).
        claim = await jobs.claim(
            sessions=sessions, generation_id=generation_id, worker_id=worker_id, max_attempts=None
        )
        if claim.kind == "gone":
            raise NotFoundError(f"no generation with id {generation_id} is stored")
        if claim.kind != "claimed":
            row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
            if row.status == JobStatus.DONE:
                return result_of(row, outputs_dir=self.config.outputs_dir)
            if row.status == JobStatus.CANCELLED:
                raise GenerationFailed(jobs.CANCELLED_MESSAGE)
            raise GenerationFailed(jobs.FAILED_MESSAGE)
        # 2. Draw it; the jobs module records how it ended.
        try:
            finished = await self.draw(generation_id, on_progress=on_progress)
        except PMGError as exc:
            await jobs.fail(
                sessions=sessions, generation_id=generation_id, error=jobs.describe(exc)
            )
            raise
        await jobs.finish(sessions=sessions, generation_id=generation_id, result=finished)
        row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
        return result_of(row, outputs_dir=self.config.outputs_dir)

    async def draw(
        self, generation_id: int, *, on_progress: ProgressCallback | None = None
    ) -> jobs.Finished:
        """Draw a started generation and report its result; the caller records the status.

        Expected errors (``PMGError``) propagate as they are; anything else is logged and
        becomes ``GenerationFailed`` with the cause chained (``jobs.describe`` reads it).
        """
        # 1. Read the request and what the user said and set.
        async with self.sessions() as session:
            generation = await repo.get_generation(session=session, generation_id=generation_id)
            job = Job.of(generation)
            user_id = generation.user_id
            rules = await repo.list_keyword_rules(session=session, user_id=user_id)
            turns = await repo.recent_messages(
                session=session, user_id=user_id, limit=self.config.chat_window
            )
        timings: dict[str, float] = {}
        try:
            # 2. The newest stored profile (updated here only when the user has none, or when
            #    this process updates inline), then keywords.
            started = time.perf_counter()
            profile = await self.profiles.latest(user_id=user_id)
            if profile is None or self.config.profile_updates == "inline":
                await self.profiles.update(user_id=user_id)
                profile = await self.profiles.latest(user_id=user_id)
            timings["profile"] = time.perf_counter() - started
            # 3. Candidates, selection and files.
            rendered = await asyncio.to_thread(
                self.renderer.render,
                job=job,
                profile_keywords=profile.keywords if profile is not None else [],
                implicit=profile.implicit if profile is not None else None,
                pinned=[r.keyword for r in rules if r.rule == "pin"],
                banned=[r.keyword for r in rules if r.rule == "ban"],
                turns=[(t.role, t.content) for t in turns],
                timings=timings,
                on_progress=on_progress,
            )
        except PMGError:
            raise
        except Exception as exc:
            log.exception("generation %s failed", generation_id)
            raise GenerationFailed("the sticker could not be made; please try again") from exc
        log.info("generation %s drawn for user %s (%s)", generation_id, user_id, job.kind)
        return jobs.Finished(
            output_key=rendered.output_key,
            target_keywords=rendered.target_keywords,
            preference_keywords=rendered.preference_keywords,
            candidates=rendered.candidates,
            selected_index=rendered.selected_index,
            model_id=rendered.model_id,
            profile_id=profile.profile_id if profile is not None else None,
            timings=timings,
        )

    # -- helpers ---------------------------------------------------------------------------------

    async def _user(self, session: AsyncSession, *, user_id: int, name: str, source: str) -> None:
        await repo.upsert_user(
            session=session,
            user_id=user_id,
            name=name,
            source=source,
            learning_opt_in=self.config.learning_opt_in_default,
        )


def result_of(row: Generation, *, outputs_dir: Path) -> GenerationResult:
    """Return what a finished row holds: the file's storage key and why it looks that way."""
    if row.status != JobStatus.DONE or row.output_key is None or row.selected_index is None:
        raise GenerationFailed(f"generation {row.id} has no stored result")
    return GenerationResult(
        generation_id=row.id,
        job_key=row.job_key,
        kind=Kind(row.kind),
        output_path=outputs_dir / row.output_key,
        output_key=row.output_key,
        prompt=row.prompt,
        target_keywords=list(row.target_keywords),
        preference_keywords=list(row.preference_keywords),
        personalization_weight=row.personalization_weight,
        seed=row.seed,
        model_id=row.model_id or "",
        selected_index=row.selected_index,
        candidates=list(row.candidates),
        timings=dict(row.timings),
    )
