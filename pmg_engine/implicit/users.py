"""Synthetic users built deterministically from the emoji corpus, to train and test personalization.

Each user prefers one corpus style, or a group of styles that share a look, and has 2-3 interest
themes (emoji subgroups). Their history items are renderings of their themes in their style, and
their history is written the way the bot writes real behaviour (``pmg_engine.behaviours``): chat
lines in which they describe the look they like in everyday words (never a style's name), talk
about their interests and chat about other things, plus sticker requests, 👍 votes and emoji.
Targets are further items of their themes in their style.

Users are split by user id into train / val / test. The phrasings of held-out users (val and
test) are written separately from the training users' ones, so an evaluation measures whether a
model understood the taste, not whether it remembered a sentence. Test users' targets are
concepts the generator never saw (the corpus's test split); val users' come from the val split.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pmg_engine import behaviours as bh
from pmg_engine.corpus.manifest import CorpusItem

UserSplit = Literal["train", "val", "test"]
USER_SPLITS: tuple[UserSplit, ...] = ("train", "val", "test")

# How each look is described in chat: (training phrasings, held-out phrasings). Everyday words
# only; the corpus's style names (openmoji, twemoji, fluent, noto, flat, high contrast) never occur.
LOOKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "openmoji": (
        (
            "i like the hand drawn ones with thick black outlines and soft colours",
            "doodle style with bold outlines is the best",
            "give me stuff that looks sketched, outlined in black, pastel fills",
            "the outlined cartoon look with light colours >>> everything else",
            "love a thick dark border around every drawing",
            "simple drawings with black lines and pale colour inside pls",
        ),
        (
            "ngl the ones that look like a marker doodle with dark outlines are my fave",
            "i want chunky black contour lines and gentle washed colours",
            "stickers that look inked by hand, outline first then light colour",
        ),
    ),
    "openmoji-black": (
        (
            "i prefer plain line drawings, just black lines, no colour at all",
            "outline only please, like a colouring book page",
            "black ink line art is so clean",
            "no fill, no colour, only the thin black contour",
            "i love minimal black linework drawings",
            "colouring book vibes: empty shapes with black lines",
        ),
        (
            "honestly just the black lines, leave the inside empty",
            "pen sketches without any colour are my thing",
            "i like it when the drawing is only a black outline like a stencil",
        ),
    ),
    "twemoji": (
        (
            "i like simple bright icons without outlines",
            "clean vector look, solid bright colours, no borders",
            "minimal cartoony icons in vivid colours",
            "the simple chat app style with bold plain colours",
            "keep it simple: bright shapes, no lines around them",
            "crisp little icons with cheerful solid colours",
        ),
        (
            "plain bright shapes with no black border are perfect",
            "i like the basic chat emoji look, vivid and borderless",
            "give me clean simple icons in strong saturated colours",
        ),
    ),
    "fluent-color": (
        (
            "i love the glossy 3d look with soft shading",
            "shiny rounded stickers with gradients are so pretty",
            "things that look like little plastic toys, all soft light and depth",
            "realistic shading and highlights make stickers pop",
            "i like them chunky and three dimensional with smooth gradients",
            "the rendered look, like a tiny clay figure with lighting",
        ),
        (
            "i want them to look like shiny 3d models with depth",
            "soft gradients and glossy highlights, like a toy",
            "the puffy rendered look with light and shadow is my favourite",
        ),
    ),
    "fluent-flat": (
        (
            "i like calm solid shapes without any shading or outlines",
            "muted plain colours, simple geometric shapes, no gradients",
            "the clean office icon look, solid fills, nothing shiny",
            "no shadows no outlines just simple solid colour blocks",
            "simple geometric icons in soft solid colours please",
            "i like the minimal corporate illustration look",
        ),
        (
            "plain solid fills, no depth, no lines, quite muted",
            "simple shapes made of single colour blocks, very tidy",
            "the tidy geometric icon look without shading",
        ),
    ),
    "fluent-high-contrast": (
        (
            "i like bold solid black silhouettes",
            "filled black shapes on nothing, super stark",
            "pure black and white, heavy solid shapes",
            "silhouette style, everything in solid black",
            "chunky black icons like road signs",
            "i love strong dark shapes with no colour, filled in",
        ),
        (
            "solid black filled shapes like a shadow puppet",
            "stark heavy black icons, no colour, no outline, just filled",
            "i want everything as a black silhouette, very bold",
        ),
    ),
    "noto": (
        (
            "i like the round bubbly classic phone emoji look",
            "cute puffy cartoon style with soft colours and a bit of shading",
            "the friendly rounded look like the emoji on my android phone",
            "bubbly cartoons with a little gradient, very cute",
            "round chubby shapes, warm colours, classic emoji vibes",
            "soft rounded cartoon look, kind of blobby and cheerful",
        ),
        (
            "the classic smartphone emoji look, round and a bit glossy",
            "chubby rounded cartoons with soft colour gradients",
            "friendly puffy shapes like the default phone emoji",
        ),
    ),
}
# Style groups that share a look: a user of a group likes any of its styles.
GROUPS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "monochrome": (
        ("openmoji-black", "fluent-high-contrast"),
        (
            (
                "black and white only please, no colours",
                "i only like monochrome stuff, black on nothing",
                "colour is overrated, give me black shapes and lines",
                "everything in black, zero colour",
            ),
            (
                "strictly black and white for me",
                "no colours at all, just black",
            ),
        ),
    ),
    "plain-bright": (
        ("twemoji", "fluent-flat"),
        (
            (
                "simple solid colours, no shading and no outlines",
                "plain shapes in solid colours, nothing fancy",
                "i like basic icons with solid fills and no borders",
                "no gradients, no lines, just simple coloured shapes",
            ),
            (
                "solid coloured simple icons without borders or shading",
                "keep it basic: one colour per shape, nothing shiny",
            ),
        ),
    ),
    "soft-rounded": (
        ("fluent-color", "noto"),
        (
            (
                "i like soft shading and round cute shapes",
                "gradients and rounded bubbly shapes are the best",
                "puffy shaded stickers, never flat ones",
                "i want depth and soft light, rounded and cute",
            ),
            (
                "rounded shapes with gentle gradients, a bit 3d",
                "soft shaded bubbly stickers please",
            ),
        ),
    ),
}
# Interest themes: emoji subgroups, with how people mention them in chat.
THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mammals": (("animal-mammal",), ("animals", "my pets", "furry animals")),
    "birds": (("animal-bird",), ("birds", "birdwatching", "parrots and owls")),
    "sea life": (("animal-marine",), ("the ocean", "sea creatures", "aquariums")),
    "bugs": (("animal-bug",), ("insects", "bugs", "butterflies and beetles")),
    "plants": (("plant-flower", "plant-other"), ("gardening", "flowers", "my plants")),
    "fruit and veg": (("food-fruit", "food-vegetable"), ("fresh fruit", "veggies", "smoothies")),
    "cooking": (("food-prepared", "food-asian"), ("cooking", "street food", "dinner recipes")),
    "sweets and drinks": (("food-sweet", "drink"), ("desserts", "bubble tea", "baking")),
    "sports": (("sport", "person-sport"), ("sports", "the match last night", "working out")),
    "games": (("game",), ("board games", "video games", "game night")),
    "music": (("music", "musical-instrument"), ("music", "my band", "concerts")),
    "weather": (("sky-weather",), ("the weather", "storms", "stargazing")),
    "vehicles": (
        ("transport-ground", "transport-air", "transport-water"),
        ("cars", "trains", "travelling"),
    ),
    "places": (("place-building", "place-geographic", "place-other"), ("travel", "cities")),
    "fantasy": (("person-fantasy", "face-costume"), ("fantasy books", "dnd", "halloween")),
    "faces": (("face-smiling", "face-affection", "cat-face", "emotion"), ("memes", "reactions")),
    "fashion": (("clothing",), ("fashion", "thrifting", "outfits")),
    "tech": (("computer", "phone", "light-video"), ("gadgets", "coding", "movies")),
    "tools": (("tool", "household"), ("diy", "fixing stuff", "home projects")),
    "office": (("office", "book-paper", "writing"), ("studying", "books", "stationery")),
    "time": (("time",), ("being on time", "clocks", "planning my day")),
}
INTEREST_LINES = (
    "i'm really into {topic} lately",
    "{topic} is basically my whole personality lol",
    "spent the weekend on {topic} again",
    "anyone else obsessed with {topic}?",
)
ITEM_LINES = (
    "just saw a {label} today!!",
    "{label} 😍",
    "my friend sent me a {label} and i can't stop smiling",
    "is a {label} a good gift idea?",
    "thinking about {label} all day",
)
CHATTER = (
    "good morning everyone",
    "lol that's so true",
    "what time is it there?",
    "brb dinner",
    "i can't believe it's monday again",
    "thanks, that was helpful",
    "haha nice one",
    "ok see you later",
    "who's up for a call tonight?",
    "ugh my wifi is so slow today",
)


@dataclass(frozen=True)
class SyntheticUser:
    """One synthetic user: taste, history lines, history items and targets (corpus item ids)."""

    user: str
    split: UserSplit
    styles: tuple[str, ...]
    look: str  # the style, or the group name
    themes: tuple[str, ...]
    history: tuple[str, ...]
    history_items: tuple[str, ...]
    targets: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the user in the ``--users`` JSONL form (plus the item ids)."""
        return {
            "user": self.user,
            "split": self.split,
            "history": list(self.history),
            "expect_styles": list(self.styles),
            "look": self.look,
            "themes": list(self.themes),
            "history_items": list(self.history_items),
            "targets": list(self.targets),
        }


def user_split(user: str) -> UserSplit:
    """Return the split of a user id: 80 % train, 10 % val, 10 % test, by a stable hash."""
    bucket = int(hashlib.sha256(f"pmg-user:{user}".encode()).hexdigest()[:8], 16) % 10
    return "val" if bucket == 8 else "test" if bucket == 9 else "train"


def _target_splits(split: UserSplit) -> tuple[str, ...]:
    # Training users learn from what the generator saw; held-out users are asked for concepts
    # it never saw, so neither the generator nor the module can have memorised the answer.
    return {"train": ("train",), "val": ("val",), "test": ("test",)}[split]


def build_users(
    items: Sequence[CorpusItem],
    *,
    count: int,
    seed: int = 0,
    splits: Sequence[UserSplit] = USER_SPLITS,
    history_items: int = 6,
    targets: int = 4,
) -> list[SyntheticUser]:
    """Return the users among the first ``count`` ids whose split is in ``splits``."""
    if count < 1:
        raise ValueError(f"count must be positive, got {count}")
    index = _Index(items)
    users = []
    for number in range(count):
        name = f"synthetic-{seed}-{number:05d}"
        split = user_split(name)
        if split not in splits:
            continue
        user = _build_user(
            name, split, index, random.Random(f"{seed}:{number}"), history_items, targets
        )
        if user is not None:
            users.append(user)
    return users


class _Index:
    def __init__(self, items: Sequence[CorpusItem]) -> None:
        self.by_key: dict[tuple[str, str, str], list[CorpusItem]] = {}
        for item in items:
            split = item.concept_split
            self.by_key.setdefault((item.style, item.subgroup, split), []).append(item)
        self.styles = sorted({item.style for item in items})

    def pick(
        self,
        rng: random.Random,
        styles: Sequence[str],
        subgroups: Sequence[str],
        splits: Sequence[str],
        k: int,
        exclude: set[str],
    ) -> list[CorpusItem]:
        pool = [
            item
            for style in styles
            for sub in subgroups
            for split in splits
            for item in self.by_key.get((style, sub, split), [])
            if item.concept not in exclude
        ]
        pool.sort(key=lambda item: item.id)
        rng.shuffle(pool)
        chosen: list[CorpusItem] = []
        seen: set[str] = set()
        for item in pool:
            if item.concept in seen:
                continue
            chosen.append(item)
            seen.add(item.concept)
            if len(chosen) == k:
                break
        return chosen


def _build_user(
    name: str,
    split: UserSplit,
    index: _Index,
    rng: random.Random,
    n_history: int,
    n_targets: int,
) -> SyntheticUser | None:
    # 1. Taste: a style (70 %) or a group of styles, and 2-3 themes.
    held_out = split != "train"
    looks = [s for s in LOOKS if s in index.styles]
    groups = [g for g, (styles, _) in GROUPS.items() if all(s in index.styles for s in styles)]
    if groups and rng.random() < 0.3:
        look = rng.choice(groups)
        styles, phrasings = GROUPS[look]
    else:
        look = rng.choice(looks)
        styles, phrasings = (look,), LOOKS[look]
    said = list(phrasings[1] if held_out else phrasings[0])
    themes = rng.sample(sorted(THEMES), rng.choice((2, 3)))
    subgroups = [sub for theme in themes for sub in THEMES[theme][0]]
    # 2. Items: history from any concept split, targets from the user's own split's concepts.
    targets = index.pick(rng, styles, subgroups, _target_splits(split), n_targets, set())
    if not targets:
        return None
    history = index.pick(
        rng,
        styles,
        subgroups,
        ("train", "val", "test"),
        n_history,
        {t.concept for t in targets},
    )
    if len(history) < 2:
        return None
    # 3. The behaviour lines, as the bot would store them, in a plausible order.
    lines: list[str] = []
    for phrase in rng.sample(said, min(len(said), rng.choice((1, 2, 2, 3)))):
        lines.extend(e.text for e in bh.message_events(phrase))
    for theme in themes:
        topic = rng.choice(THEMES[theme][1])
        lines.extend(
            e.text for e in bh.message_events(rng.choice(INTEREST_LINES).format(topic=topic))
        )
    for item in history:
        label = item.label.lower()
        roll = rng.random()
        if roll < 0.4:
            lines.append(bh.sticker_request_event(label).text)
        elif roll < 0.75:
            lines.append(bh.feedback_event(prompt=label, liked=True, keywords=[label]).text)
        else:
            text = rng.choice(ITEM_LINES).format(label=label)
            lines.extend(e.text for e in bh.message_events(f"{text} {item.emoji}"))
    for chat in rng.sample(CHATTER, rng.choice((1, 2, 3))):
        lines.extend(e.text for e in bh.message_events(chat))
    # The look is said early or late, never always in the same place.
    rng.shuffle(lines)
    return SyntheticUser(
        user=name,
        split=split,
        styles=tuple(sorted(styles)),
        look=look,
        themes=tuple(themes),
        history=tuple(lines),
        history_items=tuple(i.id for i in history),
        targets=tuple(t.id for t in targets),
    )
