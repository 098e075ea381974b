"""A new user's story, start to end, as Discord would see it."""

from __future__ import annotations

import io
import json
import zipfile

from tests.bot.harness import Harness, p
from tests.bot.support import ALICE, CHAT_REPLY, embed_fields, generations, rows_about


async def test_a_new_users_story(harness: Harness) -> None:
    """First message, chat, /sticker, 👍, /prefs show, weight, reroll, export, forget."""
    sessions = harness.service.sessions
    # 1. The first message is answered with what is stored and how to see, export or erase it.
    first = await harness.say("hi! I love cats and pastel colours 🐱", ALICE, dm=True)
    (reply,) = harness.replies_to(first)
    assert reply["content"].startswith(CHAT_REPLY)
    assert all(c in reply["content"] for c in ("/prefs show", "/prefs export", "/prefs forget"))
    # 2. Chat goes on; no second notice.
    second = await harness.say("watercolor forests are calming", ALICE, dm=True)
    assert harness.replies_to(second)[0]["content"] == CHAT_REPLY
    # 3. /sticker: deferred, then the picture with the keywords learned from the chat.
    sticker, message = await harness.draw(ALICE, "a cat drinking coffee", dm=True)
    assert sticker.callback().json == {"type": 5}
    fields = embed_fields(message)
    assert fields["Drawn from"] == "cat, drinking, coffee"
    assert "pastel colours" in fields["Your taste"]
    assert sticker.followups() == []  # the notice was already given in chat
    (row,) = await generations(sessions)
    # 4. 👍
    liked = await harness.press(message, f"pmg:like:{row.id}", ALICE, dm=True)
    assert liked.ephemeral_text().startswith("👍")
    # 5. /prefs show
    shown = await harness.slash("prefs show", ALICE, dm=True)
    shown_fields = {f["name"]: f["value"] for f in shown.followups()[0].json["embeds"][0]["fields"]}
    assert "pastel colours" in shown_fields["keywords"]
    assert shown_fields["feedback"] == "1"
    # 6. /prefs weight 0.9
    weighted = await harness.slash("prefs weight", ALICE, {"value": 0.9}, dm=True)
    assert weighted.ephemeral_text().startswith("Your taste now counts 0.90")
    # 7. 🔁 on the first sticker: a new seed, the new weight.
    rerolled = await harness.press(message, f"pmg:reroll:{row.id}", ALICE, dm=True)
    assert embed_fields(rerolled.original())["Weight"] == "0.90"
    _, child = await generations(sessions)
    assert child.parent_id == row.id
    # 8. /prefs export: every row, as a file only Alice sees.
    exported = await harness.slash("prefs export", ALICE, dm=True)
    (followup,) = exported.followups()
    assert followup.json["flags"] == p.EPHEMERAL
    with zipfile.ZipFile(io.BytesIO(followup.files[0].data)) as archive:
        document = json.loads(archive.read("export.json"))
        assert len([n for n in archive.namelist() if n.endswith(".png")]) == 2
    assert len(document["generations"]) == 2
    assert len(document["feedback"]) == 1
    assert len(document["messages"]) == 4
    # 9. /prefs forget, confirmed: nothing is left.
    asked = await harness.slash("prefs forget", ALICE, dm=True)
    done = await harness.press(asked.original(), f"pmg:forget:yes:{ALICE.id}", ALICE, dm=True)
    assert done.original()["content"].startswith("Done: I erased ")
    assert set((await rows_about(sessions, ALICE.id)).values()) == {0}
    assert not any((harness.service.config.outputs_dir).rglob("*.png"))
