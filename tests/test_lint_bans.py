"""The layering bans hold: the engine never imports discord, the bot never imports the db."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def banned(path: str, source: str) -> list[str]:
    """Return the TID251 findings ruff reports for ``source`` as if it were at ``path``."""
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff (a dev dependency) is not installed")
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251"]
    result = subprocess.run(
        [*command, "--output-format", "concise", "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return [line for line in result.stdout.splitlines() if "TID251" in line]


@pytest.mark.parametrize(
    "source",
    [
        "from pmg_engine.db import repo\n",
        "import pmg_engine.db.models\n",
        "from pmg_engine import db\n",
    ],
)
def test_bot_code_may_not_import_the_database_layer(source: str) -> None:
    """A bot module that imports pmg_engine.db fails the lint."""
    assert banned("bot/exts/scratch.py", source)


def test_bot_code_may_import_discord_and_the_service() -> None:
    """The bot's own ban replaces the engine's: discord and the service are allowed there."""
    assert banned("bot/exts/scratch.py", "import discord\nfrom pmg_engine import service\n") == []


def test_engine_code_may_not_import_discord() -> None:
    """An engine module that imports discord still fails the lint."""
    assert banned("pmg_engine/scratch.py", "import discord\n")
