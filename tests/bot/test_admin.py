"""``/admin``: who may use it, member reports, stats, explicit command sync."""

from __future__ import annotations

from typing import Any

from pmg_engine.db import admin
from pmg_engine.db.admin import report_rows
from tests.bot.harness import Harness, p
from tests.bot.support import ADA, ALICE, BOB, OWNER, PROMPT

ADMINS_ONLY = "Only server administrators and the bot owner can use /admin."


def member_option(person: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A user option and its resolved member, as Discord sends them."""
    user = person.payload
    member = {k: v for k, v in p.member(user).items() if k != "user"}
    resolved = {"users": {user["id"]: user}, "members": {user["id"]: member}}
    return {"member": user["id"]}, resolved


async def test_admin_commands_refuse_plain_members(harness: Harness) -> None:
    """A member without Administrator is refused by every /admin command."""
    for command in ("admin chat-enable", "admin chat-disable", "admin stats", "admin sync"):
        refused = await harness.slash(command, BOB)
        assert refused.ephemeral_text() == ADMINS_ONLY
    options, resolved = member_option(ALICE)
    refused = await harness.slash("admin show", BOB, options, resolved=resolved)
    assert refused.ephemeral_text() == ADMINS_ONLY


async def test_owner_passes_without_administrator(harness: Harness) -> None:
    """The bot owner may use /admin in a server where they are not an administrator."""
    answer = await harness.slash("admin stats", OWNER)
    assert answer.callback().json["data"]["flags"] == p.EPHEMERAL


async def test_admin_show_is_the_pmg_admin_view_of_a_member(harness: Harness) -> None:
    """/admin show member shows the same rows as `pmg-admin show`."""
    await harness.say("I love cats", ALICE, dm=True)
    options, resolved = member_option(ALICE)
    shown = await harness.slash("admin show", ADA, options, resolved=resolved)
    data = shown.callback().json["data"]
    assert data["flags"] == p.EPHEMERAL
    async with harness.service.sessions() as session:
        report = await admin.user_report(session=session, user_id=ALICE.id)
    fields = [(f["name"], f["value"]) for f in data["embeds"][0]["fields"]]
    assert fields == report_rows(report)
    assert data["embeds"][0]["title"] == f"user {ALICE.id} (alice)"


async def test_admin_show_of_an_unknown_member(harness: Harness) -> None:
    """/admin show of someone never seen says so."""
    options, resolved = member_option(BOB)
    shown = await harness.slash("admin show", ADA, options, resolved=resolved)
    assert shown.ephemeral_text() == "Nothing is stored about Bob."


async def test_admin_stats_counts_rows_and_jobs(harness: Harness) -> None:
    """/admin stats shows table counts, jobs per status and chat channels."""
    await harness.slash("admin chat-enable", ADA)
    await harness.draw(ALICE, PROMPT)
    stats = await harness.slash("admin stats", ADA)
    fields = {f["name"]: f["value"] for f in stats.callback().json["data"]["embeds"][0]["fields"]}
    assert fields["generations"] == "1"
    assert fields["generations by status"] == "done 1"
    assert fields["chat channels"] == "1"
    assert fields["servers"] == "1"


async def test_chat_enable_for_another_channel_and_twice(harness: Harness) -> None:
    """chat-enable takes a channel option and says when chat was already on."""
    channel = p.text_channel(p.OTHER_CHANNEL_ID, "art")
    resolved = {"channels": {channel["id"]: {**channel, "permissions": p.ALL_PERMISSIONS}}}
    options = {"channel": channel["id"]}
    first = await harness.slash("admin chat-enable", ADA, options, resolved=resolved)
    assert first.ephemeral_text() == f"I'll now answer every message in <#{p.OTHER_CHANNEL_ID}>."
    again = await harness.slash("admin chat-enable", ADA, options, resolved=resolved)
    assert again.ephemeral_text() == f"Chat was already on in <#{p.OTHER_CHANNEL_ID}>."
    message = await harness.say("hi art", ALICE, channel_id=p.OTHER_CHANNEL_ID)
    assert harness.replies_to(message)


async def test_sync_is_owner_only_and_explicit(harness: Harness) -> None:
    """/admin sync by the owner pushes the command tree; an administrator is refused."""
    refused = await harness.slash("admin sync", ADA)
    assert refused.ephemeral_text() == "Only the bot owner can sync commands."
    synced = await harness.slash("admin sync", OWNER)
    (put,) = [c for c in harness.recorder.calls if c.method == "PUT"]
    assert put.path == f"/applications/{p.APP_ID}/commands"
    commands = {c["name"]: c for c in put.json}
    assert set(commands) == {"sticker", "image", "prefs", "admin"}
    weight = next(o for o in commands["sticker"]["options"] if o["name"] == "weight")
    assert (weight["min_value"], weight["max_value"], weight["required"]) == (0.0, 1.0, False)
    assert int(commands["admin"]["default_member_permissions"]) == 8  # Administrator
    assert commands["admin"]["contexts"] == [0]
    prefs = {o["name"] for o in commands["prefs"]["options"]}
    assert prefs == {
        *("show", "weight", "pin", "ban", "reset", "learning", "sharing", "export", "forget")
    }
    assert synced.followups()[0].json["content"] == "Synced 4 commands."


async def test_admin_in_direct_messages_is_refused(harness: Harness) -> None:
    """/admin dispatched from a DM is refused (it is a server-only group)."""
    refused = await harness.slash("admin stats", ADA, dm=True)
    assert refused.ephemeral_text() == "This command works in a server, not in direct messages."
