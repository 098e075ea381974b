"""Fuzz ``pmg chat`` (talk, /pin, /sticker) with random unicode, NUL, invalid UTF-8 and 1 MB.

On SQLite and PostgreSQL: no traceback, and every line after a hostile one is still answered.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.cli import cli
from pmg_engine.db.models import Message
from pmg_engine.text import clean_text
from tests.generators.dummy import save_tiny_sd

Sessions = async_sessionmaker[AsyncSession]
SEED = 14
LAST = b"the last line still gets an answer"


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Diffusion folder."""
    return save_tiny_sd(tmp_path_factory.mktemp("tiny-sd-fuzz"))


def random_text(rng: random.Random, length: int) -> bytes:
    """Random code points from every plane (surrogates too), NUL and bytes that are not UTF-8."""
    parts: list[bytes] = []
    for _ in range(length):
        pick = rng.random()
        if pick < 0.1:
            parts.append(b"\x00")
        elif pick < 0.2:
            parts.append(bytes([rng.choice([0x80, 0xC3, 0xED, 0xF5, 0xFE, 0xFF])]))
        elif pick < 0.3:
            parts.append(rng.choice(["\u202e", "\u2066", "\u200f", "\x1b", "\r"]).encode())
        else:
            point = rng.choice([rng.randrange(0x20, 0x250), rng.randrange(0x250, 0x110000)])
            parts.append(chr(point).encode("utf-8", "surrogatepass"))
    return b"".join(parts).replace(b"\n", b" ")


def fuzz_script(rng: random.Random) -> list[bytes]:
    """Chat lines, pins and stickers of random text, one 1 MB line, then a plain last line."""
    lines = []
    for n in range(24):
        text = random_text(rng, rng.randrange(1, 80))
        prefix = (b"", b"/pin ", b"/sticker ")[n % 3] if n < 12 else (b"", b"/pin ")[n % 2]
        lines.append(prefix + text)
    lines.insert(rng.randrange(len(lines)), random_text(rng, 1000) * 1000)
    return [*lines, LAST]


async def test_fuzzed_chat_never_loses_a_line(
    tmp_path: Path,
    tiny_sd_dir: Path,
    tiny_clip_dir: Path,
    migrated_url: str,
    sessions: Sessions,
) -> None:
    """Every line that is not blank after cleaning gets one answer; nothing crashes."""
    lines = fuzz_script(random.Random(SEED))
    env = {
        "PMG_DATABASE__URL": migrated_url,
        "PMG_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "PMG_GENERATOR__MODEL": str(tiny_sd_dir),
        "PMG_GENERATOR__SCORER": str(tiny_clip_dir),
        "PMG_GENERATOR__DEVICE": "cpu",
        "PMG_GENERATOR__NUM_INFERENCE_STEPS": "1",
        "PMG_LLM__MODEL": str(tmp_path / "no-llm"),
    }
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["chat", "--user", "fuzz"],
        input=b"\n".join(lines) + b"\n",
        env=env,
    )
    assert result.exit_code == 0, result.output[-2000:]
    assert "Traceback" not in result.output
    answered = [line for line in result.stdout.splitlines() if line.startswith("bot: ")]
    expected = [line for line in lines if clean_text(line).strip()]
    assert len(answered) == len(expected)
    assert result.stdout.rstrip().endswith("bye!")
    async with sessions() as session:
        last = await session.scalar(
            select(Message.content).where(Message.role == "user").order_by(Message.id.desc())
        )
        longest = await session.scalar(select(func.max(func.length(Message.content))))
    assert last == LAST.decode()
    assert longest is not None
    assert longest <= 4000
