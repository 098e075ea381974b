"""The bot's small helpers: limits, blocklist, safety hook, option checks, mood, images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot import options
from bot.errors import Refused, sentence
from bot.images import side_by_side
from bot.limits import Limits, RequestLimiter
from bot.render import progress_text
from bot.safety import Blocklist, KeywordSafety
from pmg_engine.errors import InvalidInputError
from pmg_engine.keywords import mood_of
from pmg_engine.queue import JobEvent
from pmg_engine.service import GenerationResult


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limiter_counts_slots_cooldown_and_quota() -> None:
    """Slots are released on exit; the cooldown runs from the start; the quota counts cost."""
    clock = FakeClock()
    limiter = RequestLimiter(
        Limits(max_concurrent_jobs=2, cooldown_s=5, daily_quota=3), clock=clock
    )
    with limiter.slot(1, used_today=0):
        with pytest.raises(Refused, match="try again in 5 s"):
            limiter.check(1, used_today=1)
        clock.now = 5.0
        with limiter.slot(1, used_today=1):
            clock.now = 10.0
            with pytest.raises(Refused, match="2 pictures in the making"):
                limiter.check(1, used_today=2)
    limiter.check(1, used_today=2)
    with pytest.raises(Refused, match="limit of 3 pictures"):
        limiter.check(1, used_today=2, cost=2)
    limiter.check(2, used_today=0)  # other users are not affected


def test_limiter_slot_is_released_when_the_request_fails() -> None:
    """An exception inside a slot still frees it."""
    limiter = RequestLimiter(Limits(max_concurrent_jobs=1, cooldown_s=0, daily_quota=0))
    with pytest.raises(RuntimeError), limiter.slot(1, used_today=0):
        raise RuntimeError("boom")
    limiter.check(1, used_today=10_000)  # quota 0 means no quota


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("a gore scene", True),
        ("GORE", True),
        ("gorgeous sunset", False),
        ("blood  bath party", True),
        ("bloodbath", False),
        ("", False),
    ],
)
def test_blocklist_matches_whole_words_and_phrases(text: str, blocked: bool) -> None:
    """Terms match case-insensitively as whole words; phrases across any whitespace."""
    assert Blocklist(["gore", "Blood Bath"]).matches(text) is blocked


def test_empty_blocklist_blocks_nothing() -> None:
    """Without terms nothing is refused."""
    Blocklist([]).check_prompt("anything at all")


def result(**changes: object) -> GenerationResult:
    values: dict[str, object] = {
        "generation_id": 1,
        "job_key": "k",
        "kind": "sticker",
        "output_path": Path("x.png"),
        "output_key": "x.png",
        "prompt": "a cat",
        "target_keywords": ["cat"],
        "preference_keywords": ["pastel colours"],
        "personalization_weight": 0.5,
        "seed": 1,
        "model_id": "m",
        "selected_index": 0,
        "candidates": [],
    }
    values.update(changes)
    return GenerationResult(**values)  # type: ignore[arg-type]


async def test_keyword_safety_flags_learned_keywords_too() -> None:
    """The output hook checks the prompt and the keywords the picture was drawn from."""
    hook = KeywordSafety(Blocklist(["gore"]), action="refuse")
    assert (await hook.judge(result())).action == "allow"
    assert (await hook.judge(result(preference_keywords=["gore"]))).action == "refuse"
    off = KeywordSafety(Blocklist(["gore"]), action="off")
    assert (await off.judge(result(prompt="gore"))).action == "allow"


@pytest.mark.parametrize("value", [0, 0.5, 1, 1.0])
def test_weight_accepts_zero_to_one(value: float) -> None:
    """Weights in [0, 1] pass as floats."""
    assert options.weight(value) == float(value)


@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan"), float("inf"), "0.5", True, None])
def test_weight_rejects_the_rest(value: object) -> None:
    """Out of range, non-finite, text and booleans are invalid input."""
    with pytest.raises(InvalidInputError, match="weight"):
        options.weight(value)


def test_on_off_and_text_options() -> None:
    """on/off map to booleans; text options must be non-empty and short enough."""
    assert options.on_off("on") is True
    assert options.on_off("off") is False
    with pytest.raises(InvalidInputError):
        options.on_off("yes")
    assert options.text("cat", name="prompt", max_chars=3) == "cat"
    with pytest.raises(InvalidInputError, match="limit is 2"):
        options.text("cat", name="prompt", max_chars=2)


@pytest.mark.parametrize(
    ("text", "mood"),
    [
        ("I'm so happy today", "joy"),
        ("this is sad", "sadness"),
        ("😄", "joy"),
        ("the meeting is at noon", None),
    ],
)
def test_mood_of_reads_words_and_emoji(text: str, mood: str | None) -> None:
    """The mood comes from emotion words and emoji names."""
    assert mood_of(text) == mood


def test_progress_lines() -> None:
    """Queue positions and denoising steps read as short lines; final events show nothing."""
    assert progress_text(JobEvent(1, "queued", position=2)) == "⏳ In the queue, position 2…"
    assert progress_text(JobEvent(1, "queued", position=0)) == "⏳ Starting…"
    step = JobEvent(1, "progress", step=3, total=25, stage="generating")
    assert progress_text(step) == "🎨 Drawing… step 3/25"
    assert progress_text(JobEvent(1, "done")) is None


def test_side_by_side_scales_and_labels(tmp_path: Path) -> None:
    """Two pictures of different sizes become one PNG of equal heights."""
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(tmp_path / "a.png")
    Image.new("RGB", (128, 64), (0, 0, 255)).save(tmp_path / "b.png")
    data = side_by_side(tmp_path / "a.png", tmp_path / "b.png", labels=("0", "1"), height=100)
    image = Image.open(io.BytesIO(data))
    assert image.size == (100 + 12 + 200, 128)
    assert image.getpixel((50, 50)) == (255, 0, 0, 255)
    assert image.getpixel((112 + 100, 50)) == (0, 0, 255, 255)
    with pytest.raises(ValueError, match="height"):
        side_by_side(tmp_path / "a.png", tmp_path / "b.png", labels=("0", "1"), height=1)


def test_sentence_capitalises_and_ends() -> None:
    """Engine messages become sentences."""
    assert sentence("the weight must be between 0 and 1") == "The weight must be between 0 and 1."
    assert sentence("Done!") == "Done!"
