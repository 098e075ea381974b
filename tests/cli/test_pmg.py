"""``pmg`` main command line: database commands and the readiness report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pmg_engine.cli import cli
from pmg_engine.db import migrate


def test_fresh_data_dir_upgrade_then_status(tmp_path: Path) -> None:
    """On an empty data dir, `db upgrade` creates the SQLite file and `status` reports ready."""
    env = {"PMG_STORAGE__DATA_DIR": str(tmp_path / "fresh" / "data")}
    runner = CliRunner()
    upgrade = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgrade.exit_code == 0, upgrade.output
    assert (tmp_path / "fresh" / "data" / "pmg.sqlite3").is_file()
    status = runner.invoke(cli, ["status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert report["revision"] == migrate.head_revision()
    assert report["rows"]["users"] == 0


def test_downgrade_to_base_then_status_refuses(tmp_path: Path) -> None:
    """After `db downgrade base`, `status` refuses and names `pmg db upgrade`."""
    env = {"PMG_STORAGE__DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    down = runner.invoke(cli, ["db", "downgrade", "base"], env=env)
    assert down.exit_code == 0, down.output
    assert "base (empty)" in down.stdout
    status = runner.invoke(cli, ["status"], env=env)
    assert status.exit_code == 1
    assert "pmg db upgrade" in status.stderr


def test_bad_setting_exits_2_with_its_name(tmp_path: Path) -> None:
    """A bad setting stops the command with the setting's name, status 2."""
    result = CliRunner().invoke(cli, ["status"], env={"PMG_QUEUE__BACKEND": "carrier-pigeon"})
    assert result.exit_code == 2
    assert "PMG_QUEUE__BACKEND" in result.stderr


def test_keywords_from_a_history_file(tmp_path: Path) -> None:
    """`pmg keywords --no-llm --json` prints grounded keywords, filler-free."""
    history = tmp_path / "history.txt"
    history.write_text(
        "I love cats 🐱 and pastel colours\nwe went to a huge concert, she said it was good\n"
        "watercolor forests are so calming\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["keywords", "--history", str(history), "--no-llm", "--json", "--num", "5"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["keywords"]) == 5
    assert "pastel colours" in data["keywords"]
    assert not {"went", "huge", "she", "good"} & set(data["keywords"])


def test_keywords_errors_are_one_sentence(tmp_path: Path) -> None:
    """An empty history is one clear error; an unprepared local model is not needed."""
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["keywords", "--history", str(empty), "--no-llm"])
    assert result.exit_code == 1
    assert "has no messages" in result.stderr
    full = tmp_path / "h.txt"
    full.write_text("cats\n", encoding="utf-8")
    # The local model is never asked for preference keywords, so none has to be prepared.
    result = CliRunner().invoke(cli, ["keywords", "--history", str(full), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["keywords"] == ["cats"]
