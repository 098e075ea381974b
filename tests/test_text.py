"""``clean_text``: the one normalization every boundary applies to outside text."""

from __future__ import annotations

import unicodedata

import pytest

from pmg_engine.behaviours import emoji_names
from pmg_engine.text import BIDI_CONTROLS, clean_text, clip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\x00b", "ab"),
        ("bell\x07 esc\x1b[31m red", "bell esc[31m red"),
        ("keep\nlines\tand tabs\r\n", "keep\nlines\tand tabs\n"),
        (b"caf\xff\xc3\xa9", "caf\ufffd\u00e9"),
        ("lone \udcff surrogate \ud800", "lone \ufffd surrogate \ufffd"),
        ("evil\u202egnp.exe", "evilgnp.exe"),
        ("\u2066isolated\u2069 \u200fmark", "isolated mark"),
        ("e\u0301", "\u00e9"),
        ("👩\u200d💻 stays one emoji", "👩\u200d💻 stays one emoji"),
    ],
)  # fmt: skip
def test_clean_text(raw: str | bytes, expected: str) -> None:
    """NUL and control characters go, invalid UTF-8 is replaced, bidi goes, the result is NFC."""
    assert clean_text(raw) == expected


def test_clean_text_output_is_always_storable() -> None:
    """Any code point in, a string out that encodes as UTF-8 with no NUL, control or bidi."""
    raw = "".join(chr(c) for c in range(0, 0x3000)) + "".join(chr(c) for c in range(0xD800, 0xE000))
    cleaned = clean_text(raw)
    cleaned.encode("utf-8")
    assert "\x00" not in cleaned
    assert not set(cleaned) & BIDI_CONTROLS
    assert all(unicodedata.category(c) != "Cc" for c in cleaned if c not in "\n\t")
    assert unicodedata.is_normalized("NFC", cleaned)


def test_clip_says_when_it_cut() -> None:
    """Cutting reports that it cut and how long the text was."""
    assert clip("abc", 3).cut is False
    clipped = clip("abcdef", 4)
    assert (clipped.text, clipped.cut, clipped.original_chars) == ("abcd", True, 6)
    with pytest.raises(ValueError, match="max_chars"):
        clip("abc", 0)


def test_replacement_character_is_not_an_emoji() -> None:
    """U+FFFD stands for bytes that were not text: it never becomes an emoji behaviour."""
    assert emoji_names(clean_text(b"caf\xff \xef\xbf\xbc \xf0\x9f\x90\xb1")) == ["cat face"]
