"""How the evaluation set's prompts and distractors were drawn from a corpus (``make-set``).

Runs never call this: they read the committed set (``evalset.load_eval_set``). It stays so a
new set version can be made, reviewed and committed from a new corpus.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from pmg_engine.corpus.manifest import CorpusItem
from pmg_engine.eval.evalset import EVAL_SET_NAME, eval_set_data

# Concepts seen in another style, and concepts never seen: both are held out from training.
PROMPT_SPLITS = ("style-heldout", "test")
# Concepts seen in training in other styles: retrieval must work across styles.
SCORER_SPLIT = "style-heldout"
NUM_DISTRACTORS = 19  # one prompt among 20, chance 5 %
NUM_PROMPTS = 200
# The prompt set is part of the benchmark, not of a run: fixed whatever --seed says.
SELECTION_SEED = 6

PromptChoice = tuple[CorpusItem, list[CorpusItem]]


def choose_prompts(
    items: Sequence[CorpusItem],
    count: int,
    *,
    num_distractors: int = NUM_DISTRACTORS,
    splits: Sequence[str] = PROMPT_SPLITS,
) -> list[PromptChoice]:
    """Pick ``count`` held-out renderings, styles in turn, each with same-style distractors.

    Distractors are other concepts' renderings in the prompt's style, so ranking first means
    the image shows the concept, not merely the style.
    """
    # 1. Validate.
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
    pool = sorted((i for i in items if i.split in splits), key=lambda i: i.id)
    if len(pool) < count:
        raise ValueError(
            f"count {count} is more than the {len(pool)} held-out renderings of {tuple(splits)}"
        )

    # 2. Shuffle each style's renderings once, then take styles in turn: the set covers every
    # style evenly (random.Random(str) is stable across machines and Python versions).
    by_style: dict[str, list[CorpusItem]] = {}
    for item in pool:
        by_style.setdefault(item.style, []).append(item)
    # The first rendering (by id) of each styled caption stands for that text.
    by_text: dict[str, CorpusItem] = {}
    for item in pool:
        by_text.setdefault(item.styled_caption, item)
    for style, group in sorted(by_style.items()):
        random.Random(f"{SELECTION_SEED}:{style}").shuffle(group)
    picked: list[CorpusItem] = []
    depth = 0
    while len(picked) < count:
        for style in sorted(by_style):
            if depth < len(by_style[style]) and len(picked) < count:
                picked.append(by_style[style][depth])
        depth += 1

    # 3. Distractors: other concepts' texts of the same style, drawn per prompt from a fixed seed.
    chosen: list[PromptChoice] = []
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
        chosen.append((item, [by_text[text] for text in rng.sample(others, num_distractors)]))
    return chosen


def make_eval_set(
    items: Sequence[CorpusItem],
    *,
    version: int,
    made_on_corpus: str,
    prompts: int = NUM_PROMPTS,
    num_distractors: int = NUM_DISTRACTORS,
    splits: Sequence[str] = PROMPT_SPLITS,
    name: str = EVAL_SET_NAME,
) -> dict[str, Any]:
    """Return the content of a new evaluation set drawn from a corpus's ``items``.

    The default is the reported benchmark; ``splits=("val",)`` draws a set to tune settings
    (such as the guidance scale) on, so the benchmark never chooses them.
    """
    scorer_items = sorted((i for i in items if i.split == SCORER_SPLIT), key=lambda i: i.id)
    if not scorer_items:
        raise ValueError(f"the corpus has no {SCORER_SPLIT} renderings to evaluate the scorer on")
    return eval_set_data(
        version=version,
        made_on_corpus=made_on_corpus,
        scorer_items=scorer_items,
        scorer_split=SCORER_SPLIT,
        prompts=choose_prompts(items, prompts, num_distractors=num_distractors, splits=splits),
        num_distractors=num_distractors,
        name=name,
    )
