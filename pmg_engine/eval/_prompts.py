"""The fixed prompt set of the generator evaluation and each prompt's distractors."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from pmg_engine.corpus.manifest import CorpusItem

# Concepts seen in another style, and concepts never seen: both are held out from training.
PROMPT_SPLITS = ("style-heldout", "test")
NUM_DISTRACTORS = 19  # issue 6: one prompt among 20, chance 5 %
# The prompt set is part of the benchmark, not of a run: fixed whatever --seed says.
SELECTION_SEED = 6


@dataclass(frozen=True)
class PromptCase:
    """One held-out rendering's styled caption, the style asked for, and 19 other prompts."""

    item: CorpusItem
    distractors: tuple[str, ...]

    @property
    def prompt(self) -> str:
        """The generator prompt: caption, style and visual words."""
        return self.item.styled_caption

    @property
    def style(self) -> str:
        """The style the prompt asks for."""
        return self.item.style

    @property
    def texts(self) -> tuple[str, ...]:
        """The prompt first, then its distractors: what each image is ranked against."""
        return (self.prompt, *self.distractors)


def choose_cases(
    items: Sequence[CorpusItem], count: int, *, num_distractors: int = NUM_DISTRACTORS
) -> list[PromptCase]:
    """Pick ``count`` held-out prompts, styles in turn, each with same-style distractors.

    Distractors share the prompt's style (other concepts' styled captions), so ranking first
    means the image shows the concept, not merely the style.
    """
    # 1. Validate.
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
    pool = sorted((i for i in items if i.split in PROMPT_SPLITS), key=lambda i: i.id)
    if len(pool) < count:
        raise ValueError(
            f"count {count} is more than the {len(pool)} held-out renderings of {PROMPT_SPLITS}"
        )

    # 2. Shuffle each style's renderings once, then take styles in turn: the set covers every
    # style evenly and is the same on every machine (random.Random(int) is stable).
    by_style: dict[str, list[CorpusItem]] = {}
    for item in pool:
        by_style.setdefault(item.style, []).append(item)
    for style, group in sorted(by_style.items()):
        random.Random(f"{SELECTION_SEED}:{style}").shuffle(group)
    picked: list[CorpusItem] = []
    depth = 0
    while len(picked) < count:
        for style in sorted(by_style):
            if depth < len(by_style[style]) and len(picked) < count:
                picked.append(by_style[style][depth])
        depth += 1

    # 3. Distractors: other concepts of the same style, drawn per prompt from a fixed seed.
    cases = []
    for number, item in enumerate(picked):
        others = sorted(
            {i.styled_caption for i in by_style[item.style] if i.concept != item.concept}
            - {item.styled_caption}
        )
        if len(others) < num_distractors:
            raise ValueError(
                f"style {item.style!r} has {len(others)} other held-out prompts, fewer than "
                f"{num_distractors} distractors"
            )
        rng = random.Random(f"{SELECTION_SEED}:{number}:{item.id}")
        cases.append(PromptCase(item=item, distractors=tuple(rng.sample(others, num_distractors))))
    return cases
