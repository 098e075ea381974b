"""User-level operations of the service on a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.db.models import Base, Generation, User
from pmg_engine.errors import InvalidInputError, NotFoundError
from pmg_engine.service import (
    EXPORT_FORMAT,
    ForgetSummary,
    UserPrefsView,
    UserService,
    default_weight,
    local_user_id,
)

Sessions = async_sessionmaker[AsyncSession]
ALICE = 2**62 + 7  # a snowflake above 2**53
BOB = 42


@pytest.fixture
def users(sessions: Sessions, tmp_path: Path) -> UserService:
    """The user operations over the backend under test and a fresh outputs folder."""
    return UserService(sessions=sessions, outputs_dir=tmp_path / "outputs")


async def add_generation(
    sessions: Sessions, outputs: Path, *, user_id: int, key: str, status: str = "queued"
) -> int:
    """Store a generation of ``user_id`` in ``status``, with a picture file when it is done."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=user_id, name=f"user {user_id}")
        row, _ = await repo.create_generation(
            session=session,
            job_key=key,
            user_id=user_id,
            prompt="a cat",
            personalization_weight=0.5,
            seed=3,
            channel_id=10,
            guild_id=1,
        )
        generation_id = row.id
    values: dict[str, object] = {"status": status}
    if status == "done":
        output_key = f"{user_id}/{key}.png"
        (outputs / str(user_id)).mkdir(parents=True, exist_ok=True)
        (outputs / output_key).write_bytes(b"\x89PNG fake")
        values["output_key"] = output_key
    async with sessions() as session, session.begin():
        await session.execute(
            update(Generation).where(Generation.id == generation_id).values(values)
        )
    return generation_id


def assert_plain_view(view: object) -> None:
    """A view is a frozen dataclass of plain values, never an ORM row or one holding rows."""
    assert dataclasses.is_dataclass(view)
    assert not isinstance(view, Base)
    assert not hasattr(view, "_sa_instance_state")
    for value in dataclasses.asdict(view).values():  # type: ignore[call-overload]
        assert not isinstance(value, Base)
    field = dataclasses.fields(view)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(view, field, None)


async def test_settings_changes_create_the_user_and_return_views(users: UserService) -> None:
    """Weight, pins, bans, learning and sharing store the change and return plain views."""
    assert await users.is_stored(user_id=ALICE) is False
    prefs = await users.set_weight(user_id=ALICE, name="Alice", weight=0.25)
    assert await users.is_stored(user_id=ALICE) is True
    assert prefs.personalization_weight == 0.25
    pin = await users.set_keyword_rule(
        user_id=ALICE, name="Alice", keyword="  Pastel   COLOURS ", rule="pin"
    )
    assert (pin.keyword, pin.rule) == ("pastel colours", "pin")
    await users.set_keyword_rule(user_id=ALICE, name="Alice", keyword="gore", rule="ban")
    assert (
        await users.set_learning(user_id=ALICE, name="Alice", enabled=False)
    ).learning_opt_in is False
    prefs = await users.set_sharing(user_id=ALICE, name="Alice", enabled=True)
    assert prefs == UserPrefsView(
        user_id=ALICE,
        personalization_weight=0.25,
        learning_opt_in=False,
        share_keywords=True,
        pinned_keywords=("pastel colours",),
        banned_keywords=("gore",),
    )
    assert await users.prefs(user_id=ALICE) == prefs
    for view in (prefs, pin, await users.report(user_id=ALICE)):
        assert_plain_view(view)


async def test_invalid_weight_and_keyword_are_refused(users: UserService) -> None:
    """A weight outside [0, 1] or a keyword without letters is refused with the value named."""
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        await users.set_weight(user_id=ALICE, name="Alice", weight=1.5)
    with pytest.raises(InvalidInputError, match="no letters"):
        await users.set_keyword_rule(user_id=ALICE, name="Alice", keyword="!!!", rule="pin")


async def test_reset_restores_the_default_weight_and_removes_rules(users: UserService) -> None:
    """Reset removes every pin and ban and puts the weight back to the schema's default."""
    await users.set_weight(user_id=ALICE, name="Alice", weight=0.1)
    await users.set_keyword_rule(user_id=ALICE, name="Alice", keyword="cats", rule="pin")
    await users.set_keyword_rule(user_id=ALICE, name="Alice", keyword="dogs", rule="ban")
    done = await users.reset(user_id=ALICE, name="Alice")
    assert (done.rules_removed, done.personalization_weight) == (2, default_weight())
    prefs = await users.prefs(user_id=ALICE)
    assert prefs.pinned_keywords == prefs.banned_keywords == ()
    assert prefs.personalization_weight == pytest.approx(2 / 3)


async def test_local_users_are_stored_as_local(users: UserService, sessions: Sessions) -> None:
    """A negative id (``pmg chat``) is stored with the local source, a snowflake as discord."""
    ann = local_user_id("ann")
    await users.ensure(user_id=ann, name="ann")
    await users.ensure(user_id=BOB, name="Bob")
    async with sessions() as session:
        rows = (await session.execute(select(User.id, User.source))).all()
    sources = {user_id: source for user_id, source in rows}
    assert sources == {ann: "local", BOB: "discord"}


async def test_notice_is_due_once(users: UserService) -> None:
    """The privacy notice is due exactly once per stored user, never for an unknown one."""
    assert await users.take_notice(user_id=ALICE) is False
    await users.ensure(user_id=ALICE, name="Alice")
    assert await users.take_notice(user_id=ALICE) is True
    assert await users.take_notice(user_id=ALICE) is False


async def test_taste_shows_in_dms_and_where_sharing_is_on(users: UserService) -> None:
    """Keywords show in a DM always, in a server only once the owner turned sharing on."""
    assert await users.shows_taste(user_id=ALICE, in_dm=False) is False
    assert await users.shows_taste(user_id=ALICE, in_dm=True) is True
    await users.ensure(user_id=ALICE, name="Alice")
    assert await users.shows_taste(user_id=ALICE, in_dm=False) is False
    await users.set_sharing(user_id=ALICE, name="Alice", enabled=True)
    assert await users.shows_taste(user_id=ALICE, in_dm=False) is True


async def test_usage_today_counts_the_users_generations(
    users: UserService, sessions: Sessions, tmp_path: Path
) -> None:
    """The daily quota counts the user's generations of today, not other users'."""
    outputs = tmp_path / "outputs"
    assert await users.usage_today(user_id=ALICE) == 0
    await add_generation(sessions, outputs, user_id=ALICE, key="a1")
    await add_generation(sessions, outputs, user_id=ALICE, key="a2", status="done")
    await add_generation(sessions, outputs, user_id=BOB, key="b1")
    assert await users.usage_today(user_id=ALICE) == 2


async def test_generation_view_holds_what_a_button_needs(
    users: UserService, sessions: Sessions, tmp_path: Path
) -> None:
    """A stored generation reads as a plain view; an erased one is ``NotFoundError``."""
    generation_id = await add_generation(sessions, tmp_path / "outputs", user_id=ALICE, key="g")
    view = await users.generation(generation_id=generation_id)
    assert (view.generation_id, view.user_id, view.prompt, view.seed) == (
        generation_id,
        ALICE,
        "a cat",
        3,
    )
    assert (view.channel_id, view.guild_id, view.status) == (10, 1, "queued")
    assert_plain_view(view)
    with pytest.raises(NotFoundError):
        await users.generation(generation_id=generation_id + 1000)


async def test_export_archive_holds_the_rows_and_the_pictures(
    users: UserService, sessions: Sessions, tmp_path: Path
) -> None:
    """The export zip has export.json (every row, the current format) and each picture."""
    generation_id = await add_generation(
        sessions, tmp_path / "outputs", user_id=ALICE, key="pic", status="done"
    )
    export = await users.export_archive(user_id=ALICE)
    assert export.filename == f"pmg-export-{ALICE}.zip"
    with zipfile.ZipFile(io.BytesIO(export.archive)) as archive:
        document = json.loads(archive.read("export.json"))
        assert archive.read(f"images/{ALICE}/pic.png") == b"\x89PNG fake"
    assert document["format"] == EXPORT_FORMAT
    assert [g["id"] for g in document["generations"]] == [generation_id]
    with pytest.raises(NotFoundError):
        await users.export_archive(user_id=BOB)


async def test_forget_cancels_open_jobs_first_through_the_queue(
    users: UserService, sessions: Sessions, tmp_path: Path
) -> None:
    """Forget hands every open job to the canceller while its row exists, then erases it all."""
    outputs = tmp_path / "outputs"
    queued = await add_generation(sessions, outputs, user_id=ALICE, key="q")
    running = await add_generation(sessions, outputs, user_id=ALICE, key="r", status="running")
    await add_generation(sessions, outputs, user_id=ALICE, key="d", status="done")
    bobs = await add_generation(sessions, outputs, user_id=BOB, key="b")
    seen: list[tuple[int, bool]] = []

    async def cancel(generation_id: int) -> bool:
        async with sessions() as session:
            seen.append((generation_id, await session.get(Generation, generation_id) is not None))
        return True

    summary = await users.forget(user_id=ALICE, cancel=cancel)
    assert seen == [(queued, True), (running, True)]
    assert isinstance(summary, ForgetSummary)
    assert summary.jobs_cancelled == 2
    assert summary.deleted["generations"] == 3
    assert summary.files == 1
    assert "after cancelling 2 unfinished pictures" in summary.sentence()
    assert not (outputs / str(ALICE)).exists()
    assert await users.is_stored(user_id=ALICE) is False
    assert (await users.generation(generation_id=bobs)).user_id == BOB


async def test_forget_without_a_queue_cancels_queued_rows(
    users: UserService, sessions: Sessions, tmp_path: Path
) -> None:
    """Without a live queue (``pmg-admin``), queued jobs are cancelled on their rows."""
    outputs = tmp_path / "outputs"
    await add_generation(sessions, outputs, user_id=ALICE, key="q1")
    await add_generation(sessions, outputs, user_id=ALICE, key="q2")
    await add_generation(sessions, outputs, user_id=ALICE, key="r", status="running")
    summary = await users.forget(user_id=ALICE)
    # A running job stops only through the queue that runs it; its row is erased regardless.
    assert summary.jobs_cancelled == 2
    assert summary.to_json()["cancelled_jobs"] == 2
    async with sessions() as session:
        assert (await session.scalars(select(Generation.id))).all() == []


async def test_forget_of_an_unknown_user_changes_nothing(users: UserService) -> None:
    """Forgetting a user who is not stored raises ``NotFoundError`` and cancels nothing."""
    called: list[int] = []

    async def cancel(generation_id: int) -> bool:
        called.append(generation_id)
        return True

    with pytest.raises(NotFoundError, match=str(BOB)):
        await users.forget(user_id=BOB, cancel=cancel)
    assert called == []


async def test_stats_and_user_list_are_views(
    users: UserService, sessions: Sessions, tmp_path: Path
) -> None:
    """Stats count rows per table and jobs per status; the user list counts per user."""
    await add_generation(sessions, tmp_path / "outputs", user_id=ALICE, key="s")
    stats = await users.stats()
    assert stats.tables["users"] == 1
    assert stats.generations_by_status == {"queued": 1}
    (summary,) = await users.list_users()
    assert (summary.user_id, summary.generations, summary.profile_version) == (ALICE, 1, None)
    assert summary.to_json()["last_seen_at"] == summary.last_seen_at.isoformat()
    assert_plain_view(stats)
    assert_plain_view(summary)
