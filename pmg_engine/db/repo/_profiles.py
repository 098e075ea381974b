"""Versioned preference profiles and the embedding byte format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import (
    PreferenceProfile,
)
from pmg_engine.db.repo._users import require_user
from pmg_engine.errors import InvalidInputError


def embedding_to_bytes(embedding: NDArray[np.floating[Any]]) -> tuple[bytes, int]:
    """Serialise ``[num_tokens, dim]`` (or ``[dim]``) as little-endian float32 and its dim."""
    array = np.asarray(embedding, dtype="<f4")
    if array.ndim not in (1, 2) or array.size == 0:
        raise InvalidInputError(
            f"embedding must be a non-empty 1-D or 2-D array, got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InvalidInputError("embedding contains NaN or infinite values")
    return array.tobytes(), int(array.shape[-1])


def embedding_from_bytes(data: bytes, dim: int) -> NDArray[np.float32]:
    """Return the stored embedding as a ``[num_tokens, dim]`` float32 array."""
    array = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if dim <= 0 or array.size % dim:
        raise ValueError(f"stored embedding of {array.size} floats is not a multiple of dim {dim}")
    return array.reshape(-1, dim)


async def save_profile(
    *,
    session: AsyncSession,
    user_id: int,
    keywords: Sequence[str],
    last_behaviour_id: int | None,
    embedding: NDArray[np.floating[Any]] | None = None,
    embedding_model: str | None = None,
    llm_model: str | None = None,
) -> PreferenceProfile:
    """Append a new profile version; earlier versions stay as history."""
    await require_user(session=session, user_id=user_id)
    current = await session.scalar(
        select(func.max(PreferenceProfile.version)).where(PreferenceProfile.user_id == user_id)
    )
    blob, dim = embedding_to_bytes(embedding) if embedding is not None else (None, None)
    profile = PreferenceProfile(
        user_id=user_id,
        version=(current or 0) + 1,
        keywords=list(keywords),
        embedding=blob,
        embedding_dim=dim,
        embedding_model=embedding_model if embedding is not None else None,
        llm_model=llm_model,
        last_behaviour_id=last_behaviour_id,
    )
    session.add(profile)
    await session.flush()
    return profile


async def latest_profile(*, session: AsyncSession, user_id: int) -> PreferenceProfile | None:
    """Return the newest profile version, or ``None`` before the first update."""
    stmt = (
        select(PreferenceProfile)
        .where(PreferenceProfile.user_id == user_id)
        .order_by(PreferenceProfile.version.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def profile_history(*, session: AsyncSession, user_id: int) -> list[PreferenceProfile]:
    """Return every profile version of the user, oldest first."""
    stmt = (
        select(PreferenceProfile)
        .where(PreferenceProfile.user_id == user_id)
        .order_by(PreferenceProfile.version)
    )
    return list((await session.scalars(stmt)).all())
