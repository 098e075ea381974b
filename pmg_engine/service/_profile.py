"""Incremental preference-profile updates (explicit keywords + implicit embedding)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.service._types import EngineModels, ProfileUpdate, ServiceConfig

if TYPE_CHECKING:
    import torch

    from pmg_engine.db.models import PreferenceProfile
    from pmg_engine.implicit import StyleGuess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredProfile:
    """The current profile as the renderer needs it."""

    keywords: list[str]
    implicit: torch.Tensor | None
    implicit_model: str | None
    profile_id: int | None = None


class ProfileUpdater:
    """Reads only behaviours newer than the last profile, so updates cost the same at any age."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        models: EngineModels,
        config: ServiceConfig,
    ) -> None:
        self.sessions = sessions
        self.models = models
        self.config = config

    async def latest(self, *, user_id: int) -> StoredProfile | None:
        """Return the newest stored profile with its embedding as a tensor, or ``None``."""
        import torch

        async with self.sessions() as session:
            profile = await repo.latest_profile(session=session, user_id=user_id)
        if profile is None:
            return None
        implicit = None
        if profile.embedding is not None and profile.embedding_dim:
            array = repo.embedding_from_bytes(profile.embedding, profile.embedding_dim)
            implicit = torch.from_numpy(array.copy())
        return StoredProfile(
            list(profile.keywords), implicit, profile.embedding_model, profile_id=profile.id
        )

    async def style(self, *, user_id: int) -> StyleGuess | None:
        """Return the look the user's stored implicit tokens point to, when that can be told."""
        embedder = self.models.embedder
        profile = await self.latest(user_id=user_id)
        if embedder is None or profile is None or profile.implicit is None:
            return None
        if profile.implicit_model != embedder.model_id:
            return None
        return embedder.style_guess(profile.implicit)

    async def update(self, *, user_id: int) -> ProfileUpdate:
        """Append a profile version from the new behaviours; without any, change nothing."""
        # 1. What is new since the last version (bounded by the history window).
        async with self.sessions() as session:
            profile = await repo.latest_profile(session=session, user_id=user_id)
            after = profile.last_behaviour_id if profile is not None else None
            new = await repo.behaviours_after(
                session=session, user_id=user_id, after_id=after, limit=self.config.history_window
            )
        previous = list(profile.keywords) if profile is not None else []
        if not new:
            return ProfileUpdate(
                profile_id=profile.id if profile is not None else None,
                version=profile.version if profile is not None else 0,
                keywords=previous,
                updated=False,
                llm_called=False,
                new_behaviours=0,
            )
        lines = [b.text for b in new]
        # 2. Explicit keywords (the chain) and the implicit embedding, off the event loop. The
        #    trained soft-prompt module reads the newest window of the whole history, as it was
        #    trained; the pooled embedder blends the new lines into the stored tokens.
        result = await asyncio.to_thread(
            self.models.preference.extract, lines=lines, previous_keywords=previous
        )
        if getattr(self.models.embedder, "reads_full_history", False):
            async with self.sessions() as session:
                window = await repo.behaviours_after(
                    session=session,
                    user_id=user_id,
                    after_id=None,
                    limit=self.config.history_window,
                )
            embedding = await asyncio.to_thread(self._embed, [b.text for b in window], None)
        else:
            embedding = await asyncio.to_thread(self._embed, lines, profile)
        # 3. A new version; a concurrent update of the same user wins and this one is dropped.
        embedder = self.models.embedder
        try:
            async with self.sessions() as session, session.begin():
                saved = await repo.save_profile(
                    session=session,
                    user_id=user_id,
                    keywords=result.keywords,
                    last_behaviour_id=new[-1].id,
                    embedding=embedding.numpy() if embedding is not None else None,
                    embedding_model=embedder.model_id if embedder is not None else None,
                    llm_model=self.models.llm_model_id,
                )
        except IntegrityError:
            log.info("profile of user %s was updated concurrently; keeping the other", user_id)
            return await self.update(user_id=user_id)
        return ProfileUpdate(
            profile_id=saved.id,
            version=saved.version,
            keywords=result.keywords,
            updated=True,
            llm_called=self.models.preference.llm is not None,
            new_behaviours=len(new),
        )

    def _embed(self, lines: list[str], profile: PreferenceProfile | None) -> torch.Tensor | None:
        embedder = self.models.embedder
        if embedder is None:
            return None
        soft = embedder.embed(lines).float().cpu()
        if profile is None or profile.embedding_model != embedder.model_id:
            return soft
        stored, dim = profile.embedding, profile.embedding_dim
        if stored is None or not dim:
            return soft
        import torch

        before = torch.from_numpy(repo.embedding_from_bytes(stored, dim).copy())
        if before.shape != soft.shape:
            return soft
        # Keep what was learned before: the new lines move the tokens halfway, norms kept.
        blended = 0.5 * before + 0.5 * soft
        scale = soft.norm(dim=-1, keepdim=True) / blended.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        out: torch.Tensor = blended * scale
        return out
