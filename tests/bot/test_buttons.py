"""The persistent buttons under a result: 🔁 👍 👎 ⚖ 🗑, before and after a restart."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from pmg_engine.db.models import Behaviour, Feedback
from tests.bot.harness import Harness, p
from tests.bot.support import ALICE, BOB, PROMPT, button_ids, embed_fields, generations


async def feedback_rows(harness: Harness) -> list[tuple[int, int, bool]]:
    async with harness.service.sessions() as session:
        rows = (await session.scalars(select(Feedback).order_by(Feedback.id))).all()
        return [(f.user_id, f.generation_id, f.liked) for f in rows]


async def test_like_records_feedback_and_answers_ephemerally(harness: Harness) -> None:
    """👍 stores the vote and a behaviour for the next profile update; the answer is ephemeral."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:like:{row.id}", ALICE)
    assert pressed.ephemeral_text() == "👍 Thanks! I'll lean towards pictures like this one."
    assert await feedback_rows(harness) == [(ALICE.id, row.id, True)]
    async with harness.service.sessions() as session:
        kinds = (await session.scalars(select(Behaviour.kind))).all()
    assert "feedback" in kinds


async def test_dislike_from_another_user_is_their_vote(harness: Harness) -> None:
    """👎 by someone else records their own vote, and tells a new user what is stored."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:dislike:{row.id}", BOB)
    text = pressed.ephemeral_text()
    assert text.startswith("👎 Noted: I'll steer away from pictures like this one.")
    assert "/prefs forget" in text  # Bob's first contact
    assert await feedback_rows(harness) == [(BOB.id, row.id, False)]


async def test_reroll_draws_again_with_a_new_seed(harness: Harness) -> None:
    """🔁 posts a new result for the same prompt with a new seed, linked to its parent."""
    _, message = await harness.draw(ALICE, PROMPT)
    (parent,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:reroll:{parent.id}", ALICE)
    assert pressed.callback().json == {"type": 5}
    _, child = await generations(harness.service.sessions)
    assert (child.prompt, child.parent_id, child.status) == (PROMPT, parent.id, "done")
    assert child.seed != parent.seed
    rerolled = pressed.original()
    assert rerolled["id"] != message["id"]  # a new message, the old one stays
    assert button_ids(rerolled)[0] == f"pmg:reroll:{child.id}"
    assert embed_fields(rerolled)["Drawn from"] == "cat, drinking, coffee"


async def test_compare_posts_weight_zero_and_mine_side_by_side(harness: Harness) -> None:
    """⚖ draws the same seed at weight 0 and at the user's weight, as one side-by-side image."""
    _, message = await harness.draw(ALICE, PROMPT)
    (parent,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:compare:{parent.id}", ALICE)
    _, plain, mine = await generations(harness.service.sessions)
    assert (plain.seed, mine.seed) == (parent.seed, parent.seed)
    assert (plain.personalization_weight, mine.personalization_weight) == (
        0.0,
        parent.personalization_weight,
    )
    assert plain.parent_id == mine.parent_id == parent.id
    compared = pressed.original()
    assert compared["embeds"][0]["title"] == "Without and with your taste"
    sent = harness.recorder.files_of(compared)[f"compare-{plain.id}-{mine.id}.png"]
    image = Image.open(io.BytesIO(sent.data))
    assert image.size == (320 + 12 + 320, 320 + 28)


async def test_delete_by_the_requester_removes_the_message(harness: Harness) -> None:
    """🗑 by the requester acknowledges silently and deletes the result message."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:delete:{row.id}", ALICE)
    assert pressed.callback().json == {"type": 6}
    (delete,) = [c for c in harness.recorder.for_token(pressed.token) if c.method == "DELETE"]
    assert delete.path.endswith("/messages/@original")
    assert int(message["id"]) not in harness.recorder.messages


async def test_delete_by_someone_else_is_refused(harness: Harness) -> None:
    """🗑 by another user is refused ephemerally and the message stays."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    pressed = await harness.press(message, f"pmg:delete:{row.id}", BOB)
    assert pressed.ephemeral_text() == "Only the person who asked for this picture can delete it."
    assert int(message["id"]) in harness.recorder.messages


async def test_buttons_work_after_a_restart(harness: Harness) -> None:
    """A result posted before a restart still answers 👍 and 🔁 (state in the custom_id)."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    await harness.restart()
    liked = await harness.press(message, f"pmg:like:{row.id}", ALICE)
    assert liked.ephemeral_text().startswith("👍")
    rerolled = await harness.press(message, f"pmg:reroll:{row.id}", ALICE)
    assert rerolled.original()["attachments"]


async def test_button_on_an_erased_picture_says_so(harness: Harness) -> None:
    """A button whose generation no longer exists answers with one sentence."""
    _, message = await harness.draw(ALICE, PROMPT)
    (row,) = await generations(harness.service.sessions)
    forged = {**message, "components": [{"type": 1, "components": [
        {"type": 2, "style": 2, "custom_id": f"pmg:like:{row.id + 99}", "emoji": {"name": "👍"}}
    ]}]}  # fmt: skip
    pressed = await harness.press(forged, f"pmg:like:{row.id + 99}", ALICE)
    assert pressed.ephemeral_text() == "This picture is no longer stored (it may have been erased)."


async def test_unknown_custom_id_is_ignored(harness: Harness) -> None:
    """A press on a button the bot does not know gets no answer and no error."""
    message = p.message(
        message_id=harness.snowflakes.at(harness.clock.now()),
        channel_id=p.CHANNEL_ID,
        author=harness.recorder.bot_user,
        timestamp=harness.clock.now(),
        components=[{"type": 1, "components": [{"type": 2, "style": 2, "custom_id": "x:1",
                                                "label": "x"}]}],
    )  # fmt: skip
    pressed = await harness.press(message, "x:1", ALICE)
    assert harness.recorder.for_token(pressed.token) == []
