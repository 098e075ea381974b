"""``pmg-admin`` on a seeded, migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import ForeignKey, Table, func, select

from pmg_engine.cli.admin import cli
from pmg_engine.db import migrate, repo
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.db.models import Base, Behaviour, Generation, Message, PreferenceProfile
from tests.conftest import fresh_database

ALICE = 2**62 + 12345  # a snowflake above 2**53
BOB = 42


@dataclass
class Seeded:
    url: str
    outputs_dir: Path
    alice_rows: dict[str, set[int]]


async def _seed(url: str, outputs_dir: Path) -> Seeded:
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as s, s.begin():
            await repo.upsert_user(session=s, user_id=ALICE, name="Alice 🌸")
            await repo.upsert_user(session=s, user_id=BOB, name="Bob")
            await repo.set_personalization_weight(session=s, user_id=ALICE, weight=0.8)
            await repo.set_keyword_rule(session=s, user_id=ALICE, keyword="pastel", rule="pin")
            await repo.set_keyword_rule(session=s, user_id=ALICE, keyword="horror", rule="ban")
            message = await repo.add_message(
                session=s, user_id=ALICE, role="user", content="I love cats 🐱 and coffee"
            )
            await repo.add_message(session=s, user_id=ALICE, role="assistant", content="Meow!")
            behaviour = await repo.add_behaviour(
                session=s,
                user_id=ALICE,
                kind="message",
                text="Alice: I love cats",
                message_id=message.id,
            )
            await repo.save_profile(
                session=s, user_id=ALICE, keywords=["cats"], last_behaviour_id=behaviour.id
            )
            await repo.save_profile(
                session=s,
                user_id=ALICE,
                keywords=["cats", "coffee", "pastel"],
                last_behaviour_id=behaviour.id,
                embedding=np.ones((2, 8), dtype=np.float32),
                embedding_model="pooled-minilm",
            )
            gen, _ = await repo.create_generation(
                session=s,
                job_key="job-alice-1",
                user_id=ALICE,
                prompt="a cat drinking coffee",
                personalization_weight=0.8,
                seed=7,
            )
            gen.output_key = f"{ALICE}/job-alice-1.png"
            child, _ = await repo.create_generation(
                session=s,
                job_key="job-alice-2",
                user_id=ALICE,
                prompt="reroll",
                personalization_weight=0.8,
                seed=8,
                parent_id=gen.id,
            )
            await repo.record_feedback(session=s, user_id=ALICE, generation_id=gen.id, liked=True)
            # Bob reacts to Alice's sticker: his vote goes with her data, his behaviour stays.
            await repo.record_feedback(session=s, user_id=BOB, generation_id=gen.id, liked=False)
            await repo.add_behaviour(
                session=s,
                user_id=BOB,
                kind="feedback",
                text="Bob disliked a sticker",
                generation_id=gen.id,
            )
            bob_gen, _ = await repo.create_generation(
                session=s,
                job_key="job-bob-1",
                user_id=BOB,
                prompt="a dog",
                personalization_weight=0.5,
                seed=9,
                parent_id=gen.id,
            )
            await repo.add_message(session=s, user_id=BOB, role="user", content="hi")
            # Alice, an admin, enabled chat in a channel: the audit field must not keep her id.
            await repo.set_channel_chat(
                session=s, channel_id=555, guild_id=1, enabled=True, updated_by=ALICE
            )
        async with sessions() as s:
            rows = {
                "generations": set(
                    await s.scalars(select(Generation.id).where(Generation.user_id == ALICE))
                ),
                "messages": set(
                    await s.scalars(select(Message.id).where(Message.user_id == ALICE))
                ),
                "behaviours": set(
                    await s.scalars(select(Behaviour.id).where(Behaviour.user_id == ALICE))
                ),
                "preference_profiles": set(
                    await s.scalars(
                        select(PreferenceProfile.id).where(PreferenceProfile.user_id == ALICE)
                    )
                ),
                "users": {ALICE},
            }
            assert child.id in rows["generations"]
            assert bob_gen.id not in rows["generations"]
    finally:
        await engine.dispose()
    image = outputs_dir / str(ALICE) / "job-alice-1.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG fake bytes for the deletion test")
    return Seeded(url=url, outputs_dir=outputs_dir, alice_rows=rows)


@pytest.fixture
async def seeded(backend: str, tmp_path: Path) -> AsyncIterator[Seeded]:
    """A migrated database holding Alice (to be inspected and forgotten) and Bob."""
    async with fresh_database(backend, tmp_path) as url:
        await migrate.upgrade(url)
        yield await _seed(url, tmp_path / "data" / "outputs")


def _run(seeded: Seeded, *args: str, input: str | None = None) -> Result:
    env = {"PMG_DATABASE__URL": seeded.url, "PMG_STORAGE__DATA_DIR": str(seeded.outputs_dir.parent)}
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def test_users_lists_both_users_as_json(seeded: Seeded) -> None:
    """`users --json` parses back to both users with their counts."""
    result = _run(seeded, "users", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["user_id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {ALICE, BOB}
    assert rows[ALICE]["messages"] == 2
    assert rows[ALICE]["profile_version"] == 2
    assert rows[BOB]["profile_version"] is None


def test_show_reports_preferences(seeded: Seeded) -> None:
    """`show --json` gives keywords, pins, bans, weight, embedding summary and counts."""
    result = _run(seeded, "show", str(ALICE), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["user_id"] == ALICE
    assert report["name"] == "Alice 🌸"
    assert report["personalization_weight"] == pytest.approx(0.8)
    assert report["pinned_keywords"] == ["pastel"]
    assert report["banned_keywords"] == ["horror"]
    profile = report["profile"]
    assert profile["keywords"] == ["cats", "coffee", "pastel"]
    assert profile["embedding_dim"] == 8
    assert profile["embedding_tokens"] == 2
    assert profile["embedding_norm"] == pytest.approx(4.0)
    assert profile["embedding_model"] == "pooled-minilm"
    assert report["counts"] == {
        "messages": 2,
        "behaviours": 1,
        "generations": 2,
        "feedback": 1,
        "profile_versions": 2,
    }


def test_show_human_readable_table(seeded: Seeded) -> None:
    """Without --json, `show` prints a table a person can read."""
    result = _run(seeded, "show", str(ALICE))
    assert result.exit_code == 0, result.output
    assert "cats, coffee, pastel" in result.stdout
    assert "2 x 8" in result.stdout
    assert "0.80" in result.stdout


def test_history_lists_profile_versions(seeded: Seeded) -> None:
    """`history --json` lists every profile version, oldest first."""
    result = _run(seeded, "history", str(ALICE), "--json")
    assert result.exit_code == 0, result.output
    versions = json.loads(result.stdout)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["embedding_dim"] is None
    assert versions[1]["embedding_dim"] == 8


def test_export_contains_everything_about_the_user(seeded: Seeded, tmp_path: Path) -> None:
    """`export --out` writes JSON with every table's rows about the user, embedding included."""
    out = tmp_path / "alice.json"
    result = _run(seeded, "export", str(ALICE), "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["user"]["id"] == ALICE
    assert len(data["messages"]) == 2
    assert len(data["generations"]) == 2
    assert data["preference_profiles"][1]["embedding"] == [[1.0] * 8] * 2
    assert {r["keyword"] for r in data["keyword_rules"]} == {"pastel", "horror"}
    assert all(f["user_id"] == ALICE for f in data["feedback"])


@pytest.mark.parametrize("command", ["show", "history", "export", "forget"])
def test_missing_user_is_one_line_and_status_1(seeded: Seeded, command: str) -> None:
    """An unknown user id gives one error sentence and exit status 1, never a traceback."""
    extra = ["--yes"] if command == "forget" else []
    result = _run(seeded, command, "999999", *extra)
    assert result.exit_code == 1
    assert "no user with id 999999 is stored" in result.stderr
    assert "Traceback" not in result.output


def test_forget_needs_confirmation(seeded: Seeded) -> None:
    """Answering no at the prompt deletes nothing."""
    result = _run(seeded, "forget", str(ALICE))
    assert result.exit_code == 1  # no terminal, no --yes: refused
    assert _run(seeded, "show", str(ALICE), "--json").exit_code == 0


def test_forget_leaves_no_row_referencing_the_user(seeded: Seeded) -> None:
    """After `forget --yes`, no row in any table references the user or their rows."""
    result = _run(seeded, "forget", str(ALICE), "--yes", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["deleted_rows"]["messages"] == 2
    assert summary["deleted_files"] == 1
    assert not any(seeded.outputs_dir.rglob("*.png"))

    leftovers = _scan_every_table(seeded)
    assert leftovers == {}, leftovers
    # Bob's own data stays.
    bob = json.loads(_run(seeded, "show", str(BOB), "--json").stdout)
    assert bob["counts"]["messages"] == 1
    assert bob["counts"]["behaviours"] == 1
    assert bob["counts"]["generations"] == 1
    assert bob["counts"]["feedback"] == 0


def test_forget_cancels_the_users_open_jobs_first(seeded: Seeded) -> None:
    """`forget` cancels the user's unfinished jobs (as `/prefs forget` does), not other users'."""
    result = _run(seeded, "forget", str(ALICE), "--yes")
    assert result.exit_code == 0, result.output
    assert "unfinished jobs cancelled 2" in result.stdout
    listed = _run(seeded, "jobs", "--status", "queued", "--stuck-after", "0", "--json")
    assert [(job["user_id"], job["status"]) for job in json.loads(listed.stdout)] == [
        (BOB, "queued")
    ]


def test_forget_json_counts_the_cancelled_jobs(seeded: Seeded) -> None:
    """`forget --json` says how many unfinished jobs it cancelled before erasing them."""
    result = _run(seeded, "forget", str(ALICE), "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cancelled_jobs"] == 2


def _scan_every_table(seeded: Seeded) -> dict[str, int]:
    """Count, in every table, rows whose user column or foreign key points at Alice's rows."""
    import asyncio

    async def scan() -> dict[str, int]:
        engine = create_engine(seeded.url)
        found: dict[str, int] = {}
        try:
            async with engine.connect() as conn:
                for table in Base.metadata.sorted_tables:
                    for column, ids in _references(table, seeded.alice_rows):
                        count = await conn.scalar(
                            select(func.count()).select_from(table).where(column.in_(ids))
                        )
                        if count:
                            found[f"{table.name}.{column.name}"] = int(count)
        finally:
            await engine.dispose()
        return found

    return asyncio.run(scan())


def _references(table: Table, rows: dict[str, set[int]]) -> list[tuple[object, set[int]]]:
    refs = []
    for column in table.columns:
        if column.name in ("user_id", "updated_by"):
            refs.append((column, {ALICE}))
        if column.primary_key and table.name in rows:
            refs.append((column, rows[table.name]))
        for fk in column.foreign_keys:
            assert isinstance(fk, ForeignKey)
            target = fk.column.table.name
            if target in rows:
                refs.append((column, rows[target]))
    return refs


def test_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    """A database that cannot be opened gives one error line and status 1, no traceback."""
    env = {"PMG_DATABASE__URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(cli, ["stats"], env=env)
    assert result.exit_code == 1
    assert "cannot use the database" in result.stderr
    assert "Traceback" not in result.output


def test_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    """An empty database is refused with the command that fixes it."""
    env = {"PMG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'new' / 'empty.sqlite3'}"}
    result = CliRunner().invoke(cli, ["users"], env=env)
    assert result.exit_code == 1
    assert "run `pmg db upgrade`" in result.stderr
