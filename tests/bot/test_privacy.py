"""Preference keywords learned in private stay private: public pictures show the request alone."""

from __future__ import annotations

from tests.bot.harness import Harness, p
from tests.bot.support import ALICE, BOB, PROMPT, embed_fields, generations

SECRET = "I love cats and pastel colours"


async def test_public_sticker_shows_the_request_alone_and_tells_the_owner_ephemerally(
    harness: Harness,
) -> None:
    """Taste learned in a DM never shows on a server sticker; only its owner is told."""
    await harness.say(SECRET, ALICE, dm=True)
    dispatched, message = await harness.draw(ALICE, PROMPT)
    fields = embed_fields(message)
    assert "Your taste" not in fields
    assert fields["Drawn from"] == "cat, drinking, coffee"
    assert "pastel" not in str(message)
    notes = [c for c in dispatched.followups() if "Only you see this" in c.json["content"]]
    (note,) = notes
    assert note.json["flags"] == p.EPHEMERAL
    assert "pastel colours" in note.json["content"]


async def test_dm_sticker_shows_the_taste(harness: Harness) -> None:
    """In a DM only the owner reads the embed, so it lists the taste it used."""
    await harness.say(SECRET, ALICE, dm=True)
    dispatched, message = await harness.draw(ALICE, PROMPT, dm=True)
    assert "pastel colours" in embed_fields(message)["Your taste"]
    assert not [c for c in dispatched.followups() if "Only you see this" in c.json["content"]]


async def test_sharing_on_shows_the_taste_in_public_and_off_hides_it_again(
    harness: Harness,
) -> None:
    """/prefs sharing on puts the taste on server pictures; off takes it away; it is stored."""
    await harness.say(SECRET, ALICE, dm=True)
    on = await harness.slash("prefs sharing", ALICE, {"state": "on"})
    assert on.ephemeral_text().startswith("Sharing is on")
    _, shared = await harness.draw(ALICE, PROMPT)
    assert "pastel colours" in embed_fields(shared)["Your taste"]
    shown = await harness.slash("prefs show", ALICE)
    fields = {f["name"]: f["value"] for f in shown.followups()[0].json["embeds"][0]["fields"]}
    assert fields["sharing"] == "on"
    off = await harness.slash("prefs sharing", ALICE, {"state": "off"})
    assert off.ephemeral_text().startswith("Sharing is off")
    _, hidden = await harness.draw(ALICE, "a dog")
    assert "Your taste" not in embed_fields(hidden)


async def test_compare_in_public_hides_the_taste(harness: Harness) -> None:
    """The ⚖ comparison in a server shows the two pictures, not the keywords."""
    await harness.say(SECRET, ALICE, dm=True)
    _, message = await harness.draw(ALICE, PROMPT)
    (parent,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:compare:{parent.id}", ALICE)
    compared = pressed.original()
    assert "Your taste (right)" not in embed_fields(compared)
    assert "pastel" not in str(compared)


async def test_another_users_reroll_does_not_reveal_the_first_users_taste(
    harness: Harness,
) -> None:
    """Bob's 🔁 on Alice's sticker draws with Bob's taste, and shows neither in public."""
    await harness.say(SECRET, ALICE, dm=True)
    _, message = await harness.draw(ALICE, PROMPT)
    (parent,) = await generations(harness.service.sessions)
    rerolled = await harness.press(message, f"pmg:reroll:{parent.id}", BOB)
    assert "pastel" not in str(rerolled.original())
