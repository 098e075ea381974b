"""Forget forgets everything and export exports everything: terminal chat and pmg-admin."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.cli import cli
from pmg_engine.cli.admin import cli as admin_cli
from pmg_engine.db.models import Behaviour, Generation, PreferenceProfile
from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
from pmg_engine.service import EngineModels, PMGService, ServiceConfig, local_user_id
from tests.generators.dummy import save_tiny_sd

Sessions = async_sessionmaker[AsyncSession]
ANN, BOB = local_user_id("ann"), local_user_id("bob")
SECRET_PROMPT = "a unicorn named ann's secret"


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Diffusion folder."""
    return save_tiny_sd(tmp_path_factory.mktemp("tiny-sd-forget"))


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


async def invoke(command: Any, args: list[str], env: dict[str, str], text: str = "") -> Result:
    """Run a command line in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, command, args, input=text, env=env)


async def bob_likes_anns_sticker(sessions: Sessions, outputs: Path) -> None:
    """Bob 👍s Ann's sticker, and his profile is built from that line."""
    models = EngineModels(
        preference=PreferenceKeywordExtractor(None, num_keywords=4),
        target=TargetKeywordExtractor(None),
    )
    service = PMGService(
        sessions=sessions, models=models, config=ServiceConfig(outputs_dir=outputs)
    )
    async with sessions() as session:
        anns = (await session.scalars(select(Generation.id).where(Generation.user_id == ANN))).one()
    await service.record_message(user_id=BOB, user_name="bob", content="hi", source="local")
    await service.record_feedback(user_id=BOB, generation_id=anns, liked=True)
    await service.update_profile(user_id=BOB)


async def test_chat_export_then_admin_forget_of_a_negative_id(
    env: dict[str, str], sessions: Sessions, tmp_path: Path
) -> None:
    """/export zips rows and PNGs; `pmg-admin forget -ID` counts right, leaves nothing, unquotes."""
    outputs = tmp_path / "data" / "outputs"
    archive_path = tmp_path / "ann.zip"
    chat = await invoke(
        cli,
        ["chat", "--user", "ann"],
        env,
        f"I love unicorns\n/sticker {SECRET_PROMPT}\n/rate up\n/export {archive_path}\n",
    )
    assert chat.exit_code == 0, chat.output
    assert f"is in {archive_path}" in chat.stdout
    with zipfile.ZipFile(io.BytesIO(archive_path.read_bytes())) as archive:
        document = json.loads(archive.read("export.json"))
        (key,) = [g["output_key"] for g in document["generations"]]
        assert archive.read(f"images/{key}").startswith(b"\x89PNG")
    assert document["format"] == "pmg-user-export/2"
    assert len(document["feedback"]) == 1

    await bob_likes_anns_sticker(sessions, outputs)
    forgot = await invoke(admin_cli, ["forget", str(ANN), "--yes", "--json"], env)
    assert forgot.exit_code == 0, forgot.output
    summary = json.loads(forgot.stdout)
    assert summary["deleted_rows"]["feedback"] == 2  # hers, and Bob's on her sticker
    assert summary["deleted_rows"]["generations"] == 1
    assert summary["deleted_rows"]["users"] == 1
    assert summary["deleted_files"] == 1
    assert summary["others_rewritten"] == 1
    assert not (outputs / str(ANN)).exists()
    async with sessions() as session:
        lines = (
            await session.scalars(select(Behaviour.text).where(Behaviour.user_id == BOB))
        ).all()
        profiles = (
            await session.scalars(select(PreferenceProfile).where(PreferenceProfile.user_id == BOB))
        ).all()
    assert "User liked a sticker that has since been erased" in lines
    assert not any("unicorn" in line for line in lines)
    assert profiles == []  # rebuilt from the rewritten lines at Bob's next update
    again = await invoke(admin_cli, ["show", str(ANN)], env)
    assert again.exit_code == 1
    assert "Traceback" not in again.output


async def test_chat_forget_erases_the_chatting_user(env: dict[str, str], tmp_path: Path) -> None:
    """/forget asks for `yes`, then erases rows and the outputs folder; the chat goes on."""
    chat = await invoke(
        cli,
        ["chat", "--user", "ann"],
        env,
        "I love unicorns\n/sticker a unicorn\n/forget\n/forget yes\nhello again\n",
    )
    assert chat.exit_code == 0, chat.output
    out = chat.stdout
    assert "/forget yes" in out
    assert "bot: done: I erased " in out
    assert "and 1 files about you." in out
    assert not (tmp_path / "data" / "outputs" / str(ANN)).exists()
    assert out.rstrip().endswith("bye!")
