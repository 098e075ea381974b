"""The fixed evaluation split by concept and by held-out style."""

from __future__ import annotations

from collections import Counter

from pmg_engine.corpus.split import concept_split, heldout_style, item_split

STYLES = ("fluent-color", "fluent-flat", "noto", "openmoji", "twemoji")
KEYS = [f"{code:X}" for code in range(0x1F300, 0x1F300 + 4000)]


def test_concept_split_is_fixed_and_about_90_5_5() -> None:
    """Concept splits come from a hash: the same every call, close to 90/5/5 overall."""
    first = [concept_split(key) for key in KEYS]
    assert first == [concept_split(key) for key in KEYS]
    shares = {name: count / len(KEYS) for name, count in Counter(first).items()}
    assert abs(shares["train"] - 0.90) < 0.03
    assert abs(shares["val"] - 0.05) < 0.02
    assert abs(shares["test"] - 0.05) < 0.02


def test_known_keys_keep_their_split() -> None:
    """Pinned answers guard against the salt or the hash changing by accident."""
    keys = ("1F600", "2764", "1F302", "1F353")
    assert [concept_split(key) for key in keys] == ["train", "train", "test", "val"]
    assert [heldout_style(key, STYLES) for key in keys[:2]] == ["twemoji", "openmoji"]
    assert heldout_style("1F600", reversed(STYLES)) == "twemoji"


def test_each_training_concept_holds_out_exactly_one_style() -> None:
    """A train concept with several styles has one style-heldout rendering; others none."""
    for key in KEYS[:500]:
        splits = [item_split(key, style, STYLES) for style in STYLES]
        if concept_split(key) == "train":
            assert splits.count("style-heldout") == 1
            assert splits.count("train") == len(STYLES) - 1
        else:
            assert set(splits) == {concept_split(key)}


def test_single_style_concept_is_never_held_out() -> None:
    """Holding out a concept's only rendering would make it unseen, so it stays in train."""
    key = next(key for key in KEYS if concept_split(key) == "train")
    assert heldout_style(key, ["noto"]) is None
    assert item_split(key, "noto", ["noto"]) == "train"


def test_held_out_style_survives_losing_another_style() -> None:
    """Dropping a style that was not held out never moves the held-out choice (rendezvous)."""
    for key in KEYS[:300]:
        chosen = heldout_style(key, STYLES)
        others = [style for style in STYLES if style != chosen]
        assert heldout_style(key, [style for style in STYLES if style != others[0]]) == chosen


def test_held_out_styles_are_spread_across_sets() -> None:
    """No style is held out far more often than the others."""
    counts = Counter(heldout_style(key, STYLES) for key in KEYS)
    assert min(counts.values()) > 0.6 * len(KEYS) / len(STYLES)
