"""Read-only reports, export and erasure of one user's data, for admins and for the user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db import repo
from pmg_engine.db.models import (
    Base,
    Behaviour,
    ChannelSettings,
    Feedback,
    Generation,
    KeywordRule,
    Message,
    PreferenceProfile,
    User,
    UserSettings,
)


@dataclass(frozen=True)
class ProfileVersion:
    """One stored profile version, without the raw embedding bytes."""

    version: int
    keywords: list[str]
    embedding_dim: int | None
    embedding_tokens: int | None
    embedding_norm: float | None
    embedding_model: str | None
    llm_model: str | None
    last_behaviour_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class UserReport:
    """What is stored about one user, as ``pmg-admin show`` and ``/prefs show`` present it."""

    user_id: int
    name: str
    source: str
    created_at: datetime
    last_seen_at: datetime
    personalization_weight: float
    learning_opt_in: bool
    share_keywords: bool
    pinned_keywords: list[str]
    banned_keywords: list[str]
    profile: ProfileVersion | None
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO 8601)."""
        return to_json(self)


@dataclass(frozen=True)
class ForgetResult:
    """Rows deleted per table, and the stored files the caller must delete."""

    deleted: dict[str, int]
    output_keys: list[str]
    # Other users' behaviour lines unquoted, and their profile versions reset, because of it.
    others_rewritten: int = 0
    others_reset: int = 0


def embedding_summary(profile: ProfileVersion | None) -> str:
    """Describe a profile's embedding in one line (shape, norm, model)."""
    if profile is None or profile.embedding_dim is None:
        return "-"
    return (
        f"{profile.embedding_tokens} x {profile.embedding_dim}, "
        f"norm {profile.embedding_norm:.3f}, model {profile.embedding_model}"
    )


def report_rows(report: UserReport) -> list[tuple[str, str]]:
    """Return the ``(field, value)`` rows of a user report, as admins and users see them."""
    profile = report.profile
    rows = [
        ("source", report.source),
        ("first seen", report.created_at.isoformat(timespec="seconds")),
        ("last seen", report.last_seen_at.isoformat(timespec="seconds")),
        ("personalization weight", f"{report.personalization_weight:.2f}"),
        ("learning", "on" if report.learning_opt_in else "off"),
        ("sharing", "on" if report.share_keywords else "off"),
        ("keywords", ", ".join(profile.keywords) if profile and profile.keywords else "-"),
        ("pinned", ", ".join(report.pinned_keywords) or "-"),
        ("banned", ", ".join(report.banned_keywords) or "-"),
        ("profile version", str(profile.version) if profile else "none yet"),
        ("embedding", embedding_summary(profile)),
        ("profile updated", profile.created_at.isoformat(timespec="seconds") if profile else "-"),
    ]
    rows += [(name.replace("_", " "), str(count)) for name, count in report.counts.items()]
    return rows


def describe_profile(profile: PreferenceProfile) -> ProfileVersion:
    """Summarise a profile row; the embedding is reduced to its shape and L2 norm."""
    tokens = norm = None
    if profile.embedding is not None and profile.embedding_dim:
        array = repo.embedding_from_bytes(profile.embedding, profile.embedding_dim)
        tokens, norm = int(array.shape[0]), float(np.linalg.norm(array))
    return ProfileVersion(
        version=profile.version,
        keywords=list(profile.keywords),
        embedding_dim=profile.embedding_dim,
        embedding_tokens=tokens,
        embedding_norm=norm,
        embedding_model=profile.embedding_model,
        llm_model=profile.llm_model,
        last_behaviour_id=profile.last_behaviour_id,
        created_at=profile.created_at,
    )


async def _count(session: AsyncSession, model: type[Base], where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(where)) or 0)


async def user_counts(*, session: AsyncSession, user_id: int) -> dict[str, int]:
    """Count the user's messages, behaviours, generations, feedback and profile versions."""
    return {
        "messages": await _count(session, Message, Message.user_id == user_id),
        "behaviours": await _count(session, Behaviour, Behaviour.user_id == user_id),
        "generations": await _count(session, Generation, Generation.user_id == user_id),
        "feedback": await _count(session, Feedback, Feedback.user_id == user_id),
        "profile_versions": await _count(
            session, PreferenceProfile, PreferenceProfile.user_id == user_id
        ),
    }


async def user_report(*, session: AsyncSession, user_id: int) -> UserReport:
    """Return everything a person would want to see about one user's stored preferences."""
    user = await repo.require_user(session=session, user_id=user_id)
    settings = await repo.get_settings(session=session, user_id=user_id)
    rules = await repo.list_keyword_rules(session=session, user_id=user_id)
    profile = await repo.latest_profile(session=session, user_id=user_id)
    return UserReport(
        user_id=user.id,
        name=user.name,
        source=user.source,
        created_at=user.created_at,
        last_seen_at=user.last_seen_at,
        personalization_weight=settings.personalization_weight,
        learning_opt_in=settings.learning_opt_in,
        share_keywords=settings.share_keywords,
        pinned_keywords=[r.keyword for r in rules if r.rule == "pin"],
        banned_keywords=[r.keyword for r in rules if r.rule == "ban"],
        profile=describe_profile(profile) if profile is not None else None,
        counts=await user_counts(session=session, user_id=user_id),
    )


async def profile_versions(*, session: AsyncSession, user_id: int) -> list[ProfileVersion]:
    """Return the user's profile history, oldest first."""
    await repo.require_user(session=session, user_id=user_id)
    profiles = await repo.profile_history(session=session, user_id=user_id)
    return [describe_profile(p) for p in profiles]


def _row(obj: Base, exclude: Sequence[str] = ()) -> dict[str, Any]:
    return {
        column.key: getattr(obj, column.key)
        for column in obj.__table__.columns
        if column.key not in exclude
    }


async def _rows(session: AsyncSession, model: type[Base], where: ColumnElement[bool]) -> list[Any]:
    return list((await session.scalars(select(model).where(where).order_by("id"))).all())


async def export_user(*, session: AsyncSession, user_id: int) -> dict[str, Any]:
    """Return every row stored about the user as JSON-ready data (their right of access)."""
    user = await repo.require_user(session=session, user_id=user_id)
    settings = await session.get(UserSettings, user_id)
    profiles = []
    for profile in await _rows(session, PreferenceProfile, PreferenceProfile.user_id == user_id):
        row = _row(profile, exclude=("embedding",))
        if profile.embedding is not None and profile.embedding_dim:
            array = repo.embedding_from_bytes(profile.embedding, profile.embedding_dim)
            row["embedding"] = array.tolist()
        profiles.append(row)
    data = {
        "user": _row(user),
        "settings": _row(settings) if settings is not None else None,
        "keyword_rules": [
            _row(r) for r in await _rows(session, KeywordRule, KeywordRule.user_id == user_id)
        ],
        "messages": [_row(m) for m in await _rows(session, Message, Message.user_id == user_id)],
        "behaviours": [
            _row(b) for b in await _rows(session, Behaviour, Behaviour.user_id == user_id)
        ],
        "preference_profiles": profiles,
        "generations": [
            _row(g) for g in await _rows(session, Generation, Generation.user_id == user_id)
        ],
        "feedback": [_row(f) for f in await _rows(session, Feedback, Feedback.user_id == user_id)],
    }
    exported: dict[str, Any] = _jsonable(data)
    return exported


ERASED_FEEDBACK = "User {verb} a sticker that has since been erased"


async def _unquote_others(session: AsyncSession, user_id: int) -> tuple[int, int]:
    """Rewrite other users' lines about this user's pictures; reset the profiles built on them.

    A 👍 of another user on her sticker is that user's behaviour, so it stays, but its line
    quoted her prompt and keywords: it now says only that the picture was erased. Profile
    versions of that user built from the old line are deleted, so the next update rebuilds
    them from the rewritten one (DESIGN.md section 3: profiles are derived, behaviours kept).
    Returns ``(lines rewritten, profile versions reset)``.
    """
    theirs = select(Generation.id).where(Generation.user_id == user_id)
    rows = list(
        await session.scalars(
            select(Behaviour).where(
                Behaviour.generation_id.in_(theirs), Behaviour.user_id != user_id
            )
        )
    )
    first_line: dict[int, int] = {}
    for row in rows:
        liked = bool((row.data or {}).get("liked"))
        row.text = ERASED_FEEDBACK.format(verb="liked" if liked else "disliked")
        row.data = {"liked": liked, "generation_id": None}
        row.generation_id = None
        first_line[row.user_id] = min(first_line.get(row.user_id, row.id), row.id)
    reset = 0
    for other, first in first_line.items():
        result = await session.execute(
            delete(PreferenceProfile).where(
                PreferenceProfile.user_id == other,
                or_(
                    PreferenceProfile.last_behaviour_id.is_(None),
                    PreferenceProfile.last_behaviour_id >= first,
                ),
            )
        )
        reset += _rowcount(result)
    return len(rows), reset


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_user(*, session: AsyncSession, user_id: int) -> ForgetResult:
    """Delete every row about the user and unquote her in other users' rows (right to erasure).

    Counts are of the rows each statement deleted, including other users' feedback on her
    pictures (it goes with the pictures). Other users' behaviour lines about her pictures are
    rewritten, and their profile versions built on those lines reset (``_unquote_others``).
    """
    await repo.require_user(session=session, user_id=user_id)
    counts: dict[str, int] = {}
    rewritten, reset = await _unquote_others(session, user_id)
    keys = await session.scalars(
        select(Generation.output_key).where(
            Generation.user_id == user_id, Generation.output_key.is_not(None)
        )
    )
    output_keys = [k for k in keys.all() if k]
    # Explicit deletes in dependency order, so erasure never depends on the engine's cascade.
    owned: tuple[type[Feedback | Behaviour | KeywordRule | Message], ...] = (
        Feedback,
        Behaviour,
        KeywordRule,
        Message,
    )
    for model in owned:
        result = await session.execute(delete(model).where(model.user_id == user_id))
        counts[model.__tablename__] = _rowcount(result)
    result = await session.execute(
        delete(Feedback).where(
            Feedback.generation_id.in_(select(Generation.id).where(Generation.user_id == user_id))
        )
    )
    counts["feedback"] += _rowcount(result)
    for last in (Generation, PreferenceProfile, UserSettings):
        result = await session.execute(delete(last).where(last.user_id == user_id))
        counts[last.__tablename__] = _rowcount(result)
    await session.execute(
        update(ChannelSettings).where(ChannelSettings.updated_by == user_id).values(updated_by=None)
    )
    result = await session.execute(delete(User).where(User.id == user_id))
    counts["users"] = _rowcount(result)
    await session.flush()
    return ForgetResult(
        deleted=counts, output_keys=output_keys, others_rewritten=rewritten, others_reset=reset
    )


async def database_stats(*, session: AsyncSession) -> dict[str, Any]:
    """Return row counts per table and generations per status."""
    tables = {}
    for table in Base.metadata.sorted_tables:
        tables[table.name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    by_status = await session.execute(
        select(Generation.status, func.count()).group_by(Generation.status)
    )
    return {
        "tables": tables,
        "generations_by_status": {status: int(n) for status, n in by_status.all()},
    }


def to_json(report: UserReport | ProfileVersion) -> dict[str, Any]:
    """Return a report dataclass as a JSON-ready dict (datetimes as ISO 8601)."""
    data: dict[str, Any] = _jsonable(asdict(report))
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value
