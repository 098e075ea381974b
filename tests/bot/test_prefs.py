"""``/prefs``: show, weight, pin, ban, reset, learning, export and forget."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest

from pmg_engine.db import repo
from tests.bot.harness import Harness, p
from tests.bot.support import ALICE, BOB, PROMPT, GatedGenerator, generations, rows_about


async def settings_of(harness: Harness, user_id: int) -> tuple[float, bool, list[tuple[str, str]]]:
    async with harness.service.sessions() as session:
        settings = await repo.get_settings(session=session, user_id=user_id)
        rules = await repo.list_keyword_rules(session=session, user_id=user_id)
        return (
            settings.personalization_weight,
            settings.learning_opt_in,
            [(r.rule, r.keyword) for r in rules],
        )


async def test_show_for_an_unknown_user_says_nothing_is_stored(harness: Harness) -> None:
    """/prefs show before any contact answers ephemerally and stores nothing."""
    shown = await harness.slash("prefs show", ALICE)
    assert shown.ephemeral_text() == "Nothing is stored about you."
    assert sum((await rows_about(harness.service.sessions, ALICE.id)).values()) == 0


async def test_show_lists_keywords_pins_bans_weight_and_update(harness: Harness) -> None:
    """/prefs show updates the profile and shows the pmg-admin rows, ephemerally."""
    await harness.say("I love cats and pastel colours", ALICE, dm=True)
    await harness.slash("prefs pin", ALICE, {"keyword": "Watercolor"})
    await harness.slash("prefs ban", ALICE, {"keyword": "dragons"})
    shown = await harness.slash("prefs show", ALICE)
    assert shown.callback().json == {"type": 5, "data": {"flags": p.EPHEMERAL}}
    (followup,) = shown.followups()
    assert followup.json["flags"] == p.EPHEMERAL
    fields = {f["name"]: f["value"] for f in followup.json["embeds"][0]["fields"]}
    assert "pastel colours" in fields["keywords"]
    assert fields["pinned"] == "watercolor"
    assert fields["banned"] == "dragons"
    assert fields["personalization weight"] == "0.67"
    assert fields["learning"] == "on"
    assert fields["profile version"] == "1"
    assert fields["profile updated"] != "-"
    assert fields["messages"] == "2"


async def test_weight_is_stored(harness: Harness) -> None:
    """/prefs weight 0.3 stores the weight and the next sticker uses it."""
    answer = await harness.slash("prefs weight", ALICE, {"value": 0.3})
    assert (
        answer.ephemeral_text() == "Your taste now counts 0.30 (0 ignores it, 1 is all about it)."
    )
    assert (await settings_of(harness, ALICE.id))[0] == 0.3
    await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    assert row.personalization_weight == 0.3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, "The weight must be between 0 and 1, got 2."),
        (-0.5, "The weight must be between 0 and 1, got -0.5."),
        ("abc", "I could not read the options of this command; please try again."),
        ("", "The weight must be a number between 0 and 1, got nan."),
    ],
)
async def test_weight_out_of_range_or_malformed_is_refused(
    harness: Harness, value: object, expected: str
) -> None:
    """Values outside 0..1, text and blanks are refused and nothing is stored."""
    answer = await harness.slash(
        "prefs weight", ALICE, raw_options=[{"name": "value", "type": 10, "value": value}]
    )
    assert answer.ephemeral_text() == expected
    assert sum((await rows_about(harness.service.sessions, ALICE.id)).values()) == 0


async def test_pin_and_ban_store_one_rule_per_keyword(harness: Harness) -> None:
    """/prefs pin and /prefs ban store canonical keywords; the latest rule wins."""
    pinned = await harness.slash("prefs pin", ALICE, {"keyword": "  Pastel   Colours "})
    assert pinned.ephemeral_text() == "Pinned “pastel colours”: it goes into every picture."
    banned = await harness.slash("prefs ban", ALICE, {"keyword": "pastel colours"})
    assert banned.ephemeral_text() == "Banned “pastel colours”: it never goes into a picture."
    assert (await settings_of(harness, ALICE.id))[2] == [("ban", "pastel colours")]


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("!!!", "Keyword '!!!' has no letters or digits."),
        ("x" * 65, "The keyword has 65 characters; the limit is 64."),
    ],
)
async def test_bad_keywords_are_refused(harness: Harness, keyword: str, expected: str) -> None:
    """A keyword without letters, or too long, is refused with one sentence."""
    answer = await harness.slash("prefs pin", ALICE, {"keyword": keyword})
    assert answer.ephemeral_text() == expected


async def test_reset_restores_the_weight_and_clears_rules(harness: Harness) -> None:
    """/prefs reset puts the weight back to 2/3 and removes pins and bans."""
    await harness.slash("prefs weight", ALICE, {"value": 0.1})
    await harness.slash("prefs pin", ALICE, {"keyword": "cats"})
    await harness.slash("prefs ban", ALICE, {"keyword": "dogs"})
    answer = await harness.slash("prefs reset", ALICE)
    assert answer.ephemeral_text().startswith(
        "Reset: weight back to 0.67, 2 pins and bans removed."
    )
    weight, _, rules = await settings_of(harness, ALICE.id)
    assert (round(weight, 4), rules) == (0.6667, [])


async def test_learning_off_and_on(harness: Harness) -> None:
    """/prefs learning off stops learning from messages; on resumes it."""
    off = await harness.slash("prefs learning", ALICE, {"state": "off"})
    assert off.ephemeral_text().startswith("Learning is off")
    assert (await settings_of(harness, ALICE.id))[1] is False
    on = await harness.slash("prefs learning", ALICE, {"state": "on"})
    assert on.ephemeral_text().startswith("Learning is on")
    assert (await settings_of(harness, ALICE.id))[1] is True


async def test_learning_with_an_unknown_state_is_refused(harness: Harness) -> None:
    """A state other than on/off (not a choice Discord offers) is refused."""
    answer = await harness.slash("prefs learning", ALICE, {"state": "maybe"})
    assert answer.ephemeral_text() == "Choose on or off, not 'maybe'."


async def test_export_sends_every_row_as_an_ephemeral_json_file(harness: Harness) -> None:
    """/prefs export sends a zip of the user's rows and pictures, visible only to them."""
    await harness.say("I love cats", ALICE, dm=True)
    await harness.draw(ALICE, PROMPT)
    exported = await harness.slash("prefs export", ALICE)
    (followup,) = exported.followups()
    assert followup.json["flags"] == p.EPHEMERAL
    (sent,) = followup.files
    assert sent.filename == f"pmg-export-{ALICE.id}.zip"
    with zipfile.ZipFile(io.BytesIO(sent.data)) as archive:
        document = json.loads(archive.read("export.json"))
        (key,) = [g["output_key"] for g in document["generations"]]
        assert archive.read(f"images/{key}").startswith(b"\x89PNG")
    assert document["format"] == "pmg-user-export/2"
    assert document["user"]["id"] == ALICE.id
    assert [m["content"] for m in document["messages"]][:1] == ["I love cats"]
    assert [g["prompt"] for g in document["generations"]] == [PROMPT]


async def test_export_for_an_unknown_user(harness: Harness) -> None:
    """/prefs export with nothing stored says so."""
    exported = await harness.slash("prefs export", BOB)
    assert exported.ephemeral_text() == "Nothing is stored about you."


async def test_forget_asks_then_leaves_no_row_and_no_file(harness: Harness) -> None:
    """/prefs forget asks first; confirming deletes every row about the user and their files."""
    sessions = harness.service.sessions
    await harness.say("I love cats", ALICE, dm=True)
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(sessions)
    await harness.press(message, f"pmg:like:{row.id}", ALICE)
    await harness.slash("prefs pin", ALICE, {"keyword": "cats"})
    output = harness.service.config.outputs_dir / str(row.output_key)
    assert output.is_file()
    asked = await harness.slash("prefs forget", ALICE)
    question = asked.callback().json["data"]
    assert question["flags"] == p.EPHEMERAL
    prompt_message = asked.original()
    confirmed = await harness.press(prompt_message, f"pmg:forget:yes:{ALICE.id}", ALICE)
    assert confirmed.callback().json == {"type": 6}
    assert confirmed.original()["content"].startswith("Done: I erased ")
    assert confirmed.original()["components"] == []
    counts = await rows_about(sessions, ALICE.id)
    assert counts
    assert set(counts.values()) == {0}
    assert await generations(sessions) == []
    assert not output.exists()


async def test_forget_can_be_declined(harness: Harness) -> None:
    """Pressing "Keep my data" erases nothing."""
    await harness.say("I love cats", ALICE, dm=True)
    asked = await harness.slash("prefs forget", ALICE)
    kept = await harness.press(asked.original(), f"pmg:forget:no:{ALICE.id}", ALICE)
    assert kept.original()["content"] == "Kept: nothing was erased."
    assert (await rows_about(harness.service.sessions, ALICE.id))["users"] == 1


async def test_forget_confirmation_only_works_for_its_owner(harness: Harness) -> None:
    """A forget button pressed by someone else erases nothing."""
    await harness.say("I love cats", ALICE, dm=True)
    asked = await harness.slash("prefs forget", ALICE)
    pressed = await harness.press(asked.original(), f"pmg:forget:yes:{ALICE.id}", BOB)
    assert pressed.ephemeral_text() == "Only the person who asked can confirm this."
    assert (await rows_about(harness.service.sessions, ALICE.id))["users"] == 1


async def test_forget_during_a_running_job_cancels_it_first(
    harness: Harness, gate: GatedGenerator
) -> None:
    """Forgetting while a sticker is being drawn stops the job; no row or file is left."""
    gate.open.clear()
    drawing = await harness.slash("sticker", ALICE, {"prompt": PROMPT}, wait=False)
    await asyncio.to_thread(gate.entered.wait, 30)
    asked = await harness.slash("prefs forget", ALICE)
    confirming = await harness.press(
        asked.original(), f"pmg:forget:yes:{ALICE.id}", ALICE, wait=False
    )
    await harness.eventually(lambda: bool(harness.recorder.for_token(confirming.token)))
    gate.open.set()
    await asyncio.gather(*confirming.tasks, *drawing.tasks)
    assert confirming.original()["content"].startswith("Done: I erased ")
    assert drawing.original()["content"].startswith("⚠️ ")
    assert set((await rows_about(harness.service.sessions, ALICE.id)).values()) == {0}
    assert not any(harness.service.config.outputs_dir.rglob("*.png"))
