"""Checks shared by the repository modules."""

from __future__ import annotations

from collections.abc import Sequence

from pmg_engine.errors import InvalidInputError

SNOWFLAKE_MAX = 2**63 - 1


def check_user_id(user_id: int) -> None:
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise InvalidInputError(f"user_id must be an integer, got {user_id!r}")
    if not -SNOWFLAKE_MAX <= user_id <= SNOWFLAKE_MAX:
        raise InvalidInputError(f"user_id {user_id} does not fit in a signed 64-bit integer")


def check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
