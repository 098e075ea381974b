"""Generated files on disk, addressed by storage keys relative to the outputs folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path


def resolve_key(outputs_dir: Path, key: str) -> Path:
    """Return the file of ``key`` or raise ``ValueError`` for a key that leaves the folder."""
    root = outputs_dir.resolve()
    path = (root / key).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"storage key {key!r} points outside {root}")
    return path


def delete_outputs(outputs_dir: Path, keys: Iterable[str]) -> int:
    """Delete the files of ``keys`` that exist; return how many were deleted."""
    deleted = 0
    for key in keys:
        path = resolve_key(outputs_dir, key)
        if path.is_file():
            path.unlink()
            deleted += 1
    return deleted


def delete_user_outputs(outputs_dir: Path, user_id: int, keys: Iterable[str]) -> int:
    """Delete the user's files and their folder ``outputs/<user id>/``; return files deleted.

    The folder is named by the user id, so an empty one left behind would still say that
    the user was here.
    """
    deleted = delete_outputs(outputs_dir, keys)
    folder = outputs_dir / str(user_id)
    if folder.is_dir() and not folder.is_symlink():
        deleted += sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder)
    return deleted
