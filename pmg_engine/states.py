"""What a generation is and where its job stands: the row's two vocabularies.

The values are the strings stored in ``generations.kind`` and ``generations.status``. Which
status may follow which is written once, in ``pmg_engine.queue.jobs`` (DESIGN.md section 4).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a generation draws: a 320 px transparent sticker or a full-size image."""

    STICKER = "sticker"
    IMAGE = "image"


class JobStatus(StrEnum):
    """Where a generation job stands; the row is the source of truth (DESIGN.md section 4)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the job ended (done, failed or cancelled)."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
PENDING_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
