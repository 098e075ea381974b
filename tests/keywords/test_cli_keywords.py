"""`pmg keywords`: explanations, a bounded read of big files, one sentence for binary files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmg_engine.cli import cli
from pmg_engine.cli.models import read_history_tail


def test_explain_shows_each_keywords_lines_and_score(tmp_path: Path) -> None:
    """--explain --json gives, per keyword, its score and the file lines it came from."""
    history = tmp_path / "history.txt"
    history.write_text(
        "my favourite anime is totoro, studio ghibli forever\n"
        "the bus was late\n"
        "Assistant: 1. jupiter 2. saturn\n"
        "studio ghibli films on a rainy sunday\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["keywords", "--history", str(history), "--no-llm", "--explain", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["keywords"][0] == "studio ghibli"
    first = data["explain"]["studio ghibli"]
    assert [line["line"] for line in first["lines"]] == [1, 4]
    assert first["score"] > 0
    assert data["dropped_messages"] == [3]
    assert not {"jupiter", "saturn"} & {w for k in data["keywords"] for w in k.split()}


def test_request_lines_count_as_interest_in_their_subjects(tmp_path: Path) -> None:
    """A ``/sticker`` line in a history is a request: its subjects are taste, not its phrase."""
    history = tmp_path / "history.txt"
    history.write_text("/sticker a cat drinking coffee\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["keywords", "--history", str(history), "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["keywords"] == ["cat", "coffee"]


def test_only_the_newest_window_is_read(tmp_path: Path) -> None:
    """A long file is read from its tail: the newest lines only, within a byte budget."""
    history = tmp_path / "long.txt"
    history.write_text("".join(f"old message {i}\n" for i in range(10_000)) + "frogs!\n")
    assert read_history_tail(history, window=3) == [
        "old message 9998",
        "old message 9999",
        "frogs!",
    ]
    tail = read_history_tail(history, window=100_000, tail_bytes=4096)
    assert 0 < len(tail) < 400
    assert tail[-1] == "frogs!"
    assert all(line.startswith(("old message", "frogs")) for line in tail)


def test_a_binary_file_is_one_sentence(tmp_path: Path) -> None:
    """A file that is not text is refused with one sentence, not a traceback."""
    binary = tmp_path / "photo.png"
    binary.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ValueError, match="is not a text file"):
        read_history_tail(binary, window=200)
    result = CliRunner().invoke(cli, ["keywords", "--history", str(binary), "--no-llm"])
    assert result.exit_code == 1
    assert "is not a text file" in result.stderr
    assert "Traceback" not in result.output
