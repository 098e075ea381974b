"""Text from outside (Discord, a terminal, a file) made safe to store, show and search.

Every boundary (the bot's options and messages, the terminal chat, the service's entry points
and the repositories' keyword rules) passes user text through ``clean_text``, so the same bytes
give the same stored text whichever way they came in:

1. bytes are decoded as UTF-8, invalid sequences replaced (U+FFFD), and so are lone surrogates
   (what Python's ``surrogateescape`` makes of invalid bytes read from a terminal);
2. NUL and the other control characters go, except newline and tab (PostgreSQL refuses NUL in
   text; the others only hide or rewrite what a reader sees);
3. bidirectional overrides and isolates go (an RTL override makes a stored keyword read
   backwards wherever it is shown);
4. the result is NFC, so the same word typed two ways is one keyword.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Embedding / override / isolate controls and the directional marks (Unicode's Bidi_Control).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_KEEP = frozenset("\n\t")


@dataclass(frozen=True)
class Clipped:
    """Text cut to a limit, and whether it had to be cut (callers say so to the user)."""

    text: str
    cut: bool
    original_chars: int


def clean_text(value: str | bytes) -> str:
    """Return ``value`` decoded, without control or bidi characters, in NFC (see module doc)."""
    # 1. Decode; replace what is not text.
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = _SURROGATE.sub("\ufffd", value)
    # 2-3. Drop control and bidi characters; Windows line ends become plain newlines.
    text = text.replace("\r\n", "\n")
    kept = "".join(
        ch
        for ch in text
        if ch in _KEEP or (unicodedata.category(ch) != "Cc" and ch not in BIDI_CONTROLS)
    )
    # 4. One form for one word.
    return unicodedata.normalize("NFC", kept)


def cut_note(max_chars: int) -> str:
    """Return the sentence that tells a user only the start of their message was kept."""
    return f"Your message was long, so I kept only its first {max_chars} characters."


def clip(text: str, max_chars: int) -> Clipped:
    """Cut ``text`` to ``max_chars`` characters, saying whether it was cut."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if len(text) <= max_chars:
        return Clipped(text, False, len(text))
    return Clipped(text[:max_chars], True, len(text))
