"""``pmg chat`` fed hostile bytes on SQLite and PostgreSQL: one sentence at most, no line lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.cli import cli
from pmg_engine.db.models import KeywordRule, Message
from tests.generators.dummy import save_tiny_sd

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Diffusion folder."""
    return save_tiny_sd(tmp_path_factory.mktemp("tiny-sd-hostile"))


@pytest.fixture
def env(
    tmp_path: Path, tiny_sd_dir: Path, tiny_clip_dir: Path, migrated_url: str, sessions: Sessions
) -> dict[str, str]:
    """The CLI on the backend under test (emptied after the test) with the tiny models."""
    return {
        "PMG_DATABASE__URL": migrated_url,
        "PMG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "PMG_GENERATOR__MODEL": str(tiny_sd_dir),
        "PMG_GENERATOR__SCORER": str(tiny_clip_dir),
        "PMG_GENERATOR__DEVICE": "cpu",
        "PMG_GENERATOR__NUM_INFERENCE_STEPS": "2",
        "PMG_LLM__MODEL": str(tmp_path / "no-llm"),
    }


async def test_nul_invalid_utf8_and_bidi_in_chat_pin_and_sticker(
    env: dict[str, str], sessions: Sessions
) -> None:
    """Every line is answered; what is stored is clean; nothing quotes SQL or a traceback."""
    script = b"".join(
        [
            b"hello\x00 cats\n",
            b"/pin pas\x00tel\xe2\x80\xae\n",
            b"caf\xff and \xc3 croissants\n",
            b"/sticker a c\x00at\xe2\x80\xae\n",
            b"/weight -0\n",
            b"x" * 1_000_000 + b"\n",
            b"still here\n",
        ]
    )
    # The command runs its own event loop: give it a thread of its own.
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["chat", "--user", "b\udcffob"], input=script, env=env
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Traceback" not in result.output
    assert "parameters" not in result.output.lower()
    assert "pinned “pastel”." in out
    assert "here you go" in out
    assert "drawn from: cat" in out
    assert "your taste now counts 0.00." in out
    assert "kept only its first 4000 characters" in out
    # Seven lines, seven answers: four chat replies, the pin, the sticker and the weight.
    assert out.count("bot: ") == 7
    assert out.rstrip().endswith("bye!")
    async with sessions() as session:
        said = list(
            (await session.scalars(select(Message.content).where(Message.role == "user"))).all()
        )
        (rule,) = (await session.scalars(select(KeywordRule.keyword))).all()
    assert said[:2] == ["hello cats", "caf\ufffd and \ufffd croissants"]
    assert len(said[2]) == 4000
    assert said[3] == "still here"
    assert rule == "pastel"
