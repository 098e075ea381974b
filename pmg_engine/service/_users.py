"""What a person may see and change about what is stored of them, for the bot and both CLIs.

Adapters (cogs, ``pmg chat``, ``pmg-admin``) call one method here and render the frozen view
it returns; none of them opens a transaction or sees an ORM row (STYLE.md 14). Erasure and
export are written once: ``forget`` cancels the user's open jobs, then deletes every row
(``db.admin.forget_user``) and every generated file; ``export_archive`` is the zip of the rows
and the pictures.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import admin, repo
from pmg_engine.db.admin import ProfileVersion, UserReport
from pmg_engine.db.models import Generation, UserSettings
from pmg_engine.db.types import utcnow
from pmg_engine.queue import jobs
from pmg_engine.states import PENDING_STATUSES, JobStatus, Kind
from pmg_engine.storage import delete_user_outputs, resolve_key

Sessions = async_sessionmaker[AsyncSession]
# Cancel one job; return whether it ends cancelled (``JobQueue.cancel`` has this shape).
Canceller = Callable[[int], Awaitable[bool]]
KeywordRuleKind = Literal["pin", "ban"]
EXPORT_FORMAT = "pmg-user-export/2"
MAX_KEYWORD_CHARS = repo.MAX_KEYWORD_CHARS
# The report views are the db layer's frozen dataclasses (plain values, no ORM state).
UserReportView = UserReport
ProfileView = ProfileVersion
report_rows = admin.report_rows
embedding_summary = admin.embedding_summary
report_json = admin.to_json


def default_weight() -> float:
    """Return the personalization weight a new user starts with (the schema's default)."""
    default = UserSettings.__table__.c.personalization_weight.default
    return float(getattr(default, "arg", 2 / 3))


def source_of(user_id: int) -> str:
    """Return where a user id comes from: local users (``pmg chat``) have negative ids."""
    return "local" if user_id < 0 else "discord"


@dataclass(frozen=True)
class UserPrefsView:
    """The settings a user controls: weight, learning, sharing, pins and bans."""

    user_id: int
    personalization_weight: float
    learning_opt_in: bool
    share_keywords: bool
    pinned_keywords: tuple[str, ...] = ()
    banned_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeywordRuleView:
    """A stored pin or ban, with the keyword in its canonical form."""

    keyword: str
    rule: KeywordRuleKind


@dataclass(frozen=True)
class ResetView:
    """What a reset did: the weight it restored and how many pins and bans it removed."""

    personalization_weight: float
    rules_removed: int


@dataclass(frozen=True)
class GenerationView:
    """What adapters need of a stored generation: its owner, request and where it was asked."""

    generation_id: int
    user_id: int
    prompt: str
    kind: Kind
    seed: int
    status: JobStatus
    channel_id: int | None
    guild_id: int | None


@dataclass(frozen=True)
class TasteView:
    """What ``/prefs show`` and ``/keywords`` present: the report and the look the engine sees."""

    report: UserReportView
    look: str | None


@dataclass(frozen=True)
class ExportView:
    """A user's export: the zip (``export.json`` and ``images/``) and a file name for it."""

    user_id: int
    filename: str
    archive: bytes


@dataclass(frozen=True)
class UserSummaryView:
    """One line of ``pmg-admin users``."""

    user_id: int
    name: str
    source: str
    last_seen_at: datetime
    profile_version: int | None
    messages: int
    generations: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO 8601)."""
        return {**self.__dict__, "last_seen_at": self.last_seen_at.isoformat()}


@dataclass(frozen=True)
class DatabaseStatsView:
    """Row counts per table and generations per status."""

    tables: dict[str, int] = field(default_factory=dict)
    generations_by_status: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"tables": self.tables, "generations_by_status": self.generations_by_status}


@dataclass(frozen=True)
class ForgetSummary:
    """What an erasure removed: jobs cancelled, rows per table, files, others' rows unquoted."""

    user_id: int
    deleted: dict[str, int]
    files: int
    others_rewritten: int
    others_reset: int
    jobs_cancelled: int = 0

    @property
    def rows(self) -> int:
        """Return how many of the user's rows were deleted."""
        return sum(self.deleted.values())

    def sentence(self) -> str:
        """Return the one-line summary users and admins read."""
        text = f"erased {self.rows} rows and {self.files} files"
        if self.jobs_cancelled:
            text += f", after cancelling {self.jobs_cancelled} unfinished pictures"
        if self.others_rewritten:
            text += (
                f"; {self.others_rewritten} lines of other users about these pictures no longer "
                "quote them"
            )
        return text

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "user_id": self.user_id,
            "cancelled_jobs": self.jobs_cancelled,
            "deleted_rows": self.deleted,
            "deleted_files": self.files,
            "others_rewritten": self.others_rewritten,
            "others_profiles_reset": self.others_reset,
        }


def _generation_view(row: Generation) -> GenerationView:
    return GenerationView(
        generation_id=row.id,
        user_id=row.user_id,
        prompt=row.prompt,
        kind=row.kind,
        seed=row.seed,
        status=row.status,
        channel_id=row.channel_id,
        guild_id=row.guild_id,
    )


class UserService:
    """User-level operations over the database and the outputs folder (no models needed)."""

    def __init__(
        self, *, sessions: Sessions, outputs_dir: Path, learning_opt_in_default: bool = True
    ) -> None:
        self.sessions = sessions
        self.outputs_dir = outputs_dir
        self.learning_opt_in_default = learning_opt_in_default

    # -- reads -----------------------------------------------------------------------------------

    async def is_stored(self, *, user_id: int) -> bool:
        """Return whether any row about the user exists."""
        async with self.sessions() as session:
            return await repo.get_user(session=session, user_id=user_id) is not None

    async def prefs(self, *, user_id: int) -> UserPrefsView:
        """Return the stored user's settings (``NotFoundError`` for an unknown user)."""
        async with self.sessions() as session, session.begin():
            return await self._prefs(session, user_id)

    async def report(self, *, user_id: int) -> UserReportView:
        """Return what is stored about the user (``NotFoundError`` for an unknown user)."""
        async with self.sessions() as session, session.begin():
            return await admin.user_report(session=session, user_id=user_id)

    async def profile_history(self, *, user_id: int) -> list[ProfileView]:
        """Return every version of the user's preference profile, oldest first."""
        async with self.sessions() as session:
            return await admin.profile_versions(session=session, user_id=user_id)

    async def list_users(self, *, limit: int = 100) -> list[UserSummaryView]:
        """Return users, most recently seen first, with their profile version and counts."""
        summaries = []
        async with self.sessions() as session:
            for user in await repo.list_users(session=session, limit=limit):
                profile = await repo.latest_profile(session=session, user_id=user.id)
                counts = await admin.user_counts(session=session, user_id=user.id)
                summaries.append(
                    UserSummaryView(
                        user_id=user.id,
                        name=user.name,
                        source=user.source,
                        last_seen_at=user.last_seen_at,
                        profile_version=profile.version if profile else None,
                        messages=counts["messages"],
                        generations=counts["generations"],
                    )
                )
        return summaries

    async def stats(self) -> DatabaseStatsView:
        """Return row counts per table and generations per status."""
        async with self.sessions() as session:
            data = await admin.database_stats(session=session)
        return DatabaseStatsView(
            tables=data["tables"], generations_by_status=data["generations_by_status"]
        )

    async def usage_today(self, *, user_id: int) -> int:
        """Count the user's generations since 00:00 UTC (the daily quota's window)."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.sessions() as session:
            return await repo.generations_since(session=session, user_id=user_id, since=midnight)

    async def shows_taste(self, *, user_id: int, in_dm: bool) -> bool:
        """Return whether a picture may show the user's preference keywords where it is posted.

        In a DM only the owner reads it; elsewhere only when they turned sharing on.
        """
        if in_dm:
            return True
        async with self.sessions() as session:
            settings = await session.get(UserSettings, user_id)
            return settings is not None and settings.share_keywords

    async def generation(self, *, generation_id: int) -> GenerationView:
        """Return a stored generation (``NotFoundError`` when it is gone)."""
        async with self.sessions() as session:
            row = await repo.get_generation(session=session, generation_id=generation_id)
            return _generation_view(row)

    # -- writes ----------------------------------------------------------------------------------

    async def ensure(self, *, user_id: int, name: str) -> UserPrefsView:
        """Create the user with default settings, or refresh their name; return the settings."""
        async with self.sessions() as session, session.begin():
            await self._upsert(session, user_id, name)
            return await self._prefs(session, user_id)

    async def take_notice(self, *, user_id: int) -> bool:
        """Return True exactly once per stored user: the first time the privacy notice is due."""
        async with self.sessions() as session, session.begin():
            settings = await session.get(UserSettings, user_id)
            if settings is None or settings.notice_shown:
                return False
            settings.notice_shown = True
            return True

    async def set_weight(self, *, user_id: int, name: str, weight: float) -> UserPrefsView:
        """Store alpha, the personalization weight in [0, 1] (``InvalidInputError`` if not)."""
        async with self.sessions() as session, session.begin():
            await self._upsert(session, user_id, name)
            await repo.set_personalization_weight(session=session, user_id=user_id, weight=weight)
            return await self._prefs(session, user_id)

    async def set_keyword_rule(
        self, *, user_id: int, name: str, keyword: str, rule: KeywordRuleKind
    ) -> KeywordRuleView:
        """Pin or ban a keyword (the latest rule of a keyword wins); return it canonical."""
        async with self.sessions() as session, session.begin():
            await self._upsert(session, user_id, name)
            stored = await repo.set_keyword_rule(
                session=session, user_id=user_id, keyword=keyword, rule=rule
            )
            return KeywordRuleView(keyword=stored.keyword, rule=rule)

    async def reset(self, *, user_id: int, name: str) -> ResetView:
        """Remove every pin and ban and restore the default weight (what was learned stays)."""
        weight = default_weight()
        async with self.sessions() as session, session.begin():
            await self._upsert(session, user_id, name)
            removed = await repo.clear_keyword_rules(session=session, user_id=user_id)
            await repo.set_personalization_weight(session=session, user_id=user_id, weight=weight)
        return ResetView(personalization_weight=weight, rules_removed=removed)

    async def set_learning(self, *, user_id: int, name: str, enabled: bool) -> UserPrefsView:
        """Record whether the user's behaviour may be used to learn their preferences."""
        async with self.sessions() as session, session.begin():
            await self._upsert(session, user_id, name)
            await repo.set_learning_opt_in(session=session, user_id=user_id, enabled=enabled)
            return await self._prefs(session, user_id)

    async def set_sharing(self, *, user_id: int, name: str, enabled: bool) -> UserPrefsView:
        """Record whether the user's preference keywords may show on their public pictures."""
        async with self.sessions() as session, session.begin():
            await self._upsert(session, user_id, name)
            await repo.set_share_keywords(session=session, user_id=user_id, enabled=enabled)
            return await self._prefs(session, user_id)

    # -- the user's rights: access and erasure --------------------------------------------------

    async def export_document(self, *, user_id: int) -> dict[str, Any]:
        """Return every row stored about the user as one JSON-ready document."""
        async with self.sessions() as session:
            data = await admin.export_user(session=session, user_id=user_id)
        return {"exported_at": utcnow().isoformat(), "format": EXPORT_FORMAT, **data}

    async def export_archive(self, *, user_id: int) -> ExportView:
        """Return a zip of everything stored about the user: ``export.json`` and the pictures."""
        document = await self.export_document(user_id=user_id)
        keys = [g["output_key"] for g in document["generations"] if g.get("output_key")]
        archive = await asyncio.to_thread(_archive, document, self.outputs_dir, keys)
        return ExportView(user_id=user_id, filename=f"pmg-export-{user_id}.zip", archive=archive)

    async def forget(self, *, user_id: int, cancel: Canceller | None = None) -> ForgetSummary:
        """Cancel the user's open jobs, then delete every row about them and their files.

        ``cancel`` is the live queue's (a process that runs jobs passes ``queue.cancel``, which
        also stops a running job at its next step); without one, queued jobs are cancelled on
        their rows, which every worker reads before it starts a job. ``NotFoundError`` when
        nothing is stored.
        """
        # 1. The user's open jobs (this also refuses an unknown user before anything changes).
        async with self.sessions() as session:
            await repo.require_user(session=session, user_id=user_id)
            open_ids = await repo.user_generation_ids(
                session=session, user_id=user_id, statuses=tuple(sorted(PENDING_STATUSES))
            )
        # 2. Cancel them first, so that no job writes a picture after its files are gone.
        canceller = cancel if cancel is not None else self._cancel_queued
        cancelled = 0
        for generation_id in open_ids:
            cancelled += bool(await canceller(generation_id))
        # 3. Every row, then the files the rows named and the user's outputs folder.
        async with self.sessions() as session, session.begin():
            result = await admin.forget_user(session=session, user_id=user_id)
        files = await asyncio.to_thread(
            delete_user_outputs, self.outputs_dir, user_id, result.output_keys
        )
        return ForgetSummary(
            user_id=user_id,
            deleted=result.deleted,
            files=files,
            others_rewritten=result.others_rewritten,
            others_reset=result.others_reset,
            jobs_cancelled=cancelled,
        )

    # -- helpers ---------------------------------------------------------------------------------

    async def _cancel_queued(self, generation_id: int) -> bool:
        return await jobs.cancel_queued(sessions=self.sessions, generation_id=generation_id)

    async def _upsert(self, session: AsyncSession, user_id: int, name: str) -> None:
        await repo.upsert_user(
            session=session,
            user_id=user_id,
            name=name,
            source=source_of(user_id),
            learning_opt_in=self.learning_opt_in_default,
        )

    async def _prefs(self, session: AsyncSession, user_id: int) -> UserPrefsView:
        settings = await repo.get_settings(session=session, user_id=user_id)
        rules = await repo.list_keyword_rules(session=session, user_id=user_id)
        return UserPrefsView(
            user_id=user_id,
            personalization_weight=settings.personalization_weight,
            learning_opt_in=settings.learning_opt_in,
            share_keywords=settings.share_keywords,
            pinned_keywords=tuple(r.keyword for r in rules if r.rule == "pin"),
            banned_keywords=tuple(r.keyword for r in rules if r.rule == "ban"),
        )


def _archive(document: dict[str, Any], outputs_dir: Path, keys: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(document, indent=2, ensure_ascii=False))
        for key in keys:
            path = resolve_key(outputs_dir, key)
            if path.is_file():
                # PNGs are compressed already.
                archive.write(path, f"images/{key}", compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()
