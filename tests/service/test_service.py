"""One request end to end through the service: DB, keywords, tiny diffusion, scoring, files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from pmg_engine.db import repo
from pmg_engine.db.models import Behaviour, Generation
from pmg_engine.errors import InvalidInputError
from pmg_engine.service import (
    GenerationRequest,
    NoGeneratorError,
    Progress,
    local_user_id,
)
from tests.fakes import RecordingChatModel

ALICE = local_user_id("alice")


async def talk(service: Any, *messages: str, user_id: int = ALICE) -> None:
    for message in messages:
        await service.record_message(
            user_id=user_id, user_name="alice", content=message, source="local"
        )


async def test_sticker_end_to_end_reflects_the_talk(make_service: Any) -> None:
    """A user talks, asks for a sticker, and gets a Discord-ready file with their keywords."""
    service = make_service()
    await talk(service, "I love cats 🐱 and pastel colours", "watercolor forests are calming")
    events: list[Progress] = []
    result = await service.generate(
        GenerationRequest(user_id=ALICE, prompt="a dog drinking coffee", seed=7),
        on_progress=events.append,
    )
    # The file: 320x320 RGBA PNG within Discord's sticker limit.
    data = result.output_path.read_bytes()
    assert len(data) <= 512 * 1024
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size, image.mode) == ("PNG", (320, 320), "RGBA")
    # Why it looks this way: target and preference keywords, grounded in the talk.
    assert result.target_keywords[:2] == ["dog", "drinking"]
    assert result.preference_keywords[0] == "pastel colours"
    assert "dragons" not in result.preference_keywords
    # Every candidate of the grid was scored and the best z was chosen.
    assert len(result.candidates) == 3
    zs = [c["z"] for c in result.candidates]
    assert result.selected_index == zs.index(max(zs))
    assert {"d_t", "d_p", "weights", "seed"} <= set(result.candidates[0])
    assert [e.stage for e in events if e.stage != "generating"] == ["keywords", "scoring", "saving"]
    assert sum(e.stage == "generating" for e in events) == 2
    # The row is the source of truth and holds the same story.
    async with service.sessions() as session:
        row = await repo.get_generation(session=session, generation_id=result.generation_id)
        assert row.status == "done"
        assert row.attempts == 1
        assert row.output_key == result.output_key
        assert set(row.timings) >= {"profile", "keywords", "generation", "scoring", "postprocess"}
        profile = await repo.latest_profile(session=session, user_id=ALICE)
        assert profile is not None
        assert profile.embedding_dim == service.models.generator.text_encoder.hidden_size


async def test_profile_update_is_incremental(
    make_service: Any, chat_model: RecordingChatModel
) -> None:
    """A second update with no new behaviour calls no model and writes no version."""
    service = make_service()
    await talk(service, "I love cats")
    first = await service.update_profile(user_id=ALICE)
    assert first.updated
    assert first.llm_called
    assert first.version == 1
    calls = len(chat_model.calls)
    second = await service.update_profile(user_id=ALICE)
    assert not second.updated
    assert not second.llm_called
    assert second.version == 1
    assert second.keywords == first.keywords
    assert len(chat_model.calls) == calls
    await talk(service, "neon pixel art is the best")
    third = await service.update_profile(user_id=ALICE)
    assert third.updated
    assert third.version == 2
    assert third.new_behaviours == 1
    assert "cats" in third.keywords  # what was learned before stays


async def test_weight_zero_is_unpersonalized(make_service: Any) -> None:
    """At weight 0 no preference keyword or embedding conditions the image."""
    service = make_service()
    await talk(service, "I love cats and pastel colours")
    result = await service.generate(
        GenerationRequest(user_id=ALICE, prompt="a dog", personalization_weight=0.0, seed=1)
    )
    assert result.preference_keywords == []
    assert all(c["weights"]["preference"] == 0 for c in result.candidates)
    assert result.personalization_weight == 0.0


async def test_opted_out_user_is_answered_but_not_learned_from(make_service: Any) -> None:
    """Messages of a user without learning are stored but make no behaviour."""
    service = make_service(learning_opt_in_default=False)
    learned = await service.record_message(
        user_id=5, user_name="bo", content="I love cats", source="discord"
    )
    assert learned is False
    async with service.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Behaviour))
        assert count == 0
        assert len(await repo.recent_messages(session=session, user_id=5, limit=5)) == 1


@pytest.mark.parametrize(
    ("prompt", "weight", "message"),
    [
        ("   ", None, "at least one word"),
        ("!!!", None, "at least one word"),
        ("cat " * 200, None, "limit is 300"),
        ("a cat", 1.5, "between 0 and 1"),
        ("a cat", float("nan"), "between 0 and 1"),
    ],
)
async def test_bad_requests_are_refused_before_anything_is_stored(
    make_service: Any, prompt: str, weight: float | None, message: str
) -> None:
    """Empty, symbol-only and over-long prompts and bad weights give one clear error, no row."""
    service = make_service()
    with pytest.raises(InvalidInputError, match=message):
        await service.generate(
            GenerationRequest(user_id=ALICE, prompt=prompt, personalization_weight=weight)
        )
    async with service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Generation)) == 0


async def test_missing_generator_fails_clearly_and_keeps_the_row(make_service: Any) -> None:
    """Without a generator the user gets a sentence, and the job is stored as failed."""
    service = make_service(generator=None)
    with pytest.raises(NoGeneratorError, match="PMG_GENERATOR__MODEL"):
        await service.generate(GenerationRequest(user_id=ALICE, prompt="a cat"))
    async with service.sessions() as session:
        row = await session.scalar(select(Generation))
        assert row is not None
        assert row.status == "failed"
        assert "NoGeneratorError" in (row.error or "")


async def test_same_job_key_runs_once(make_service: Any) -> None:
    """Submitting the same job key twice returns the stored result without a second run."""
    service = make_service()
    request = GenerationRequest(user_id=ALICE, prompt="a cat", job_key="ix-42", seed=3)
    first = await service.generate(request)
    mtime = first.output_path.stat().st_mtime_ns
    again = await service.generate(request)
    assert again.generation_id == first.generation_id
    assert again.output_path.stat().st_mtime_ns == mtime
    async with service.sessions() as session:
        row = await repo.get_generation(session=session, generation_id=first.generation_id)
        assert row.attempts == 1


async def test_sticker_answering_the_conversation(make_service: Any) -> None:
    """Without a prompt, the target is the mood of the last turns."""
    service = make_service()
    await talk(service, "we won the final!!! 🎉 best day ever")
    result = await service.generate(GenerationRequest(user_id=ALICE, prompt=None, seed=2))
    assert result.target_keywords[0] == "joy"
    assert result.output_path.is_file()


async def test_feedback_becomes_a_behaviour(make_service: Any) -> None:
    """A 👍 is stored and feeds the next profile update."""
    service = make_service()
    result = await service.generate(GenerationRequest(user_id=ALICE, prompt="a pixel robot"))
    await service.record_feedback(user_id=ALICE, generation_id=result.generation_id, liked=True)
    async with service.sessions() as session:
        rows = (await session.scalars(select(Behaviour).where(Behaviour.kind == "feedback"))).all()
        assert len(rows) == 1
        assert rows[0].text.startswith('User liked a sticker of "a pixel robot"')


async def test_reference_guided_starts_from_the_nearest_rendering(
    make_service: Any, tmp_path: Path
) -> None:
    """With a reference index, the request starts from the nearest item and records it."""
    from pmg_engine.reference import ReferenceIndex, build_reference_index
    from tests.reference.synthetic import hash_embed, write_corpus

    manifest = write_corpus(tmp_path / "corpus")
    build_reference_index(manifest, tmp_path / "index", embed=hash_embed)
    service = make_service(reference_strength=0.5)
    service.models.reference = ReferenceIndex.load(tmp_path / "index", embed=hash_embed)
    result = await service.generate(GenerationRequest(user_id=ALICE, prompt="a pizza", seed=4))
    reference = result.candidates[0]["reference"]
    assert "pizza" in reference["caption"]
    assert result.output_path.is_file()


def test_preferred_style_is_read_from_keywords() -> None:
    """A user whose keywords say "flat" gets the flat style; no hint gives no style."""
    from pmg_engine.service._render import preferred_style

    styles = ("twemoji", "fluent-flat", "noto")
    assert preferred_style(["cats", "flat colours"], styles) == "fluent-flat"
    assert preferred_style(["cats"], styles) is None
    assert preferred_style(["line art"], styles) is None  # high contrast not in this index


async def test_small_outputs_are_enlarged_by_the_upscaler(make_service: Any) -> None:
    """A 64 px output becomes a 256 px full image through the upscaler; without one it stays
    64 px (resampling only, the old path); a sticker is 320 px either way."""
    from tests.synthetic_pairs import random_upscaler

    upscaled = make_service(upscaler=random_upscaler(), image_size=64)
    plain = make_service(image_size=64)
    sizes = []
    for service in (upscaled, plain):
        result = await service.generate(
            GenerationRequest(user_id=ALICE, prompt="a dog", kind="image", seed=2)
        )
        with Image.open(result.output_path) as image:
            sizes.append(image.size)
    assert sizes == [(256, 256), (64, 64)]
    sticker = await upscaled.generate(GenerationRequest(user_id=ALICE, prompt="a cat", seed=3))
    with Image.open(sticker.output_path) as image:
        assert (image.size, image.mode) == ((320, 320), "RGBA")


def test_big_outputs_are_left_as_they_are(make_service: Any) -> None:
    """Outputs above 128 px (Stable Diffusion's 512) never go through the upscaler."""
    from tests.synthetic_pairs import random_upscaler

    renderer = make_service(upscaler=random_upscaler()).renderer
    big = Image.new("RGB", (512, 512), (200, 10, 10))
    assert renderer._enlarge(big) is big
    assert renderer._enlarge(Image.new("RGBA", (128, 128))).size == (512, 512)
