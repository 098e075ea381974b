"""``pmg bot``: the refusal without a token, and the composition root end to end."""

from __future__ import annotations

from pathlib import Path

import discord.http
import pytest
from click.testing import CliRunner

from bot.__main__ import run
from bot.app import PMGBot
from bot.cli import bot_command
from config import load_settings
from tests.bot.harness import Recorder, p


def test_without_a_token_the_bot_refuses_in_one_sentence() -> None:
    """`pmg bot` without a token exits 1 with one sentence naming PMG_DISCORD__TOKEN."""
    result = CliRunner().invoke(bot_command, [])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: no Discord bot token is configured: set PMG_DISCORD__TOKEN")


def test_a_blank_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token of spaces is refused the same way."""
    monkeypatch.setenv("PMG_DISCORD__TOKEN", "   ")
    result = CliRunner().invoke(bot_command, [])
    assert result.exit_code == 1
    assert "PMG_DISCORD__TOKEN" in result.output


async def test_run_wires_everything_and_syncs_only_when_asked(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """run() migrates, loads what it can, starts the queue, logs in, syncs with --sync, stops."""

    async def no_gateway(self: PMGBot, *, reconnect: bool = True) -> None:
        return None  # the gateway is out of reach offline; login and setup_hook ran already

    monkeypatch.setattr(PMGBot, "connect", no_gateway)
    settings = load_settings(discord={"token": "test-token"})
    await run(settings, sync=False)
    assert [c.path for c in recorder.calls] == ["/users/@me", "/oauth2/applications/@me"]
    assert (tmp_path / "data" / "pmg.sqlite3").is_file()
    await run(settings, sync=True)
    (put,) = [c for c in recorder.calls if c.method == "PUT"]
    assert put.path == f"/applications/{p.APP_ID}/commands"
    assert {c["name"] for c in put.json} == {"sticker", "image", "prefs", "admin"}


def test_bot_without_network_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`pmg bot` that cannot reach Discord says so in one sentence and exits 1."""
    # Discord's API at a port where nothing listens: the connection is refused for real.
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:1/api/v10")
    monkeypatch.setenv("PMG_DISCORD__TOKEN", "not.a.token")
    monkeypatch.setenv("PMG_STORAGE__DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(bot_command, [])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: cannot reach Discord (")
    assert error.endswith("check this machine's network and try again")


def test_a_refused_sync_is_one_sentence(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`pmg bot --sync` that Discord refuses (403) exits 1 with one sentence, no traceback."""
    from tests.bot.harness.recorder import http_error

    async def no_gateway(self: PMGBot, *, reconnect: bool = True) -> None:
        return None

    # Discord answers the command sync (a PUT) with 403 Missing Access.
    recorder.refusals.append(
        lambda call: http_error(403, 50001, "Missing Access") if call.method == "PUT" else None
    )
    monkeypatch.setattr(PMGBot, "connect", no_gateway)
    monkeypatch.setenv("PMG_DISCORD__TOKEN", "test-token")
    monkeypatch.setenv("PMG_DISCORD__DEV_GUILD_ID", str(p.GUILD_ID))
    result = CliRunner().invoke(bot_command, ["--sync"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error == (
        f"Error: Discord refused to sync the slash commands for server {p.GUILD_ID} "
        f"(403 Missing Access): invite the bot to server {p.GUILD_ID} with the "
        "applications.commands scope"
    )
