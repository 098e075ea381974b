"""Errors whose messages are safe to show to a user as one sentence."""

from __future__ import annotations


class PMGError(Exception):
    """Base of the project's expected errors; ``str(error)`` is a user-facing sentence."""


class NotFoundError(PMGError, LookupError):
    """A user, profile or generation that does not exist."""


class InvalidInputError(PMGError, ValueError):
    """A value from a user or a caller that is out of range or malformed."""
