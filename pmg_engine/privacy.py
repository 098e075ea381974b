"""Forget and export: one function each, shared by the bot, the terminal chat and pmg-admin.

Erasure deletes every row about the user, their files and their outputs folder, and rewrites
other users' rows that quoted them (``db.admin.forget_user``). Export is a zip archive: the
rows as ``export.json`` and every stored picture under ``images/`` by its storage key.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import admin
from pmg_engine.db.types import utcnow
from pmg_engine.storage import delete_user_outputs, resolve_key

EXPORT_FORMAT = "pmg-user-export/2"


@dataclass(frozen=True)
class ForgetSummary:
    """What an erasure removed: rows per table, files, and other users' rows unquoted."""

    user_id: int
    deleted: dict[str, int]
    files: int
    others_rewritten: int
    others_reset: int

    @property
    def rows(self) -> int:
        """Return how many of the user's rows were deleted."""
        return sum(self.deleted.values())

    def sentence(self) -> str:
        """Return the one-line summary users and admins read."""
        text = f"erased {self.rows} rows and {self.files} files"
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
            "deleted_rows": self.deleted,
            "deleted_files": self.files,
            "others_rewritten": self.others_rewritten,
            "others_profiles_reset": self.others_reset,
        }


async def forget_user(
    *, sessions: async_sessionmaker[AsyncSession], outputs_dir: Path, user_id: int
) -> ForgetSummary:
    """Erase the user (``NotFoundError`` when nothing is stored); cancel their jobs first."""
    async with sessions() as session, session.begin():
        result = await admin.forget_user(session=session, user_id=user_id)
    files = await asyncio.to_thread(delete_user_outputs, outputs_dir, user_id, result.output_keys)
    return ForgetSummary(
        user_id=user_id,
        deleted=result.deleted,
        files=files,
        others_rewritten=result.others_rewritten,
        others_reset=result.others_reset,
    )


async def export_user(
    *, sessions: async_sessionmaker[AsyncSession], outputs_dir: Path, user_id: int
) -> bytes:
    """Return a zip of everything stored about the user: rows and pictures."""
    async with sessions() as session:
        data = await admin.export_user(session=session, user_id=user_id)
    document = {"exported_at": utcnow().isoformat(), "format": EXPORT_FORMAT, **data}
    keys = [g["output_key"] for g in data["generations"] if g.get("output_key")]
    return await asyncio.to_thread(_archive, document, outputs_dir, keys)


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
