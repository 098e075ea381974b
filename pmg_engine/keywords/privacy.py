"""What must never be learned: private data and injected instructions (DESIGN.md section 6).

Keywords are shown on stickers' embeds and in ``/prefs show``, so secrets, e-mail addresses,
URLs, phone numbers, street addresses, numbers and handles are cut out of a message before any
candidate is taken from it, and the words that announce them ("password", "email") are never
keywords themselves. A line that addresses the model as a system (fake role turns, fake
``</history>`` tags, orders "as the administrator") is not taste and is dropped from learning.
"""

from __future__ import annotations

import re

# What replaces removed spans: a clause break, so no phrase joins the words around it.
BREAK = " | "

_STREET_TYPES = (
    "street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|drive|dr|way|court|ct|place|pl|square|"
    "sq|terrace|close|crescent|highway|hwy|parkway|pkwy|alley|row|strasse|straße|rue|calle|via"
)
# Types that rarely mean anything else ("Milky Way" is not an address).
_NAMED_STREETS = (
    "street|road|avenue|lane|boulevard|drive|terrace|crescent|highway|parkway|st|rd|ave"
)
_SECRET_CUES = (
    r"pass(?:word|wd|code|phrase)?|pwd|pin(?:\s*code)?|token|api[\s_-]*key|secret(?:\s*key|\s*code)?"
    r"|login|user\s*name|username|ssn|social\s+security(?:\s+number)?|iban|credit\s+card"
    r"|card\s+number|cvv|otp|2fa\s+code|seed\s+phrase"
)
_SCRUBBERS = [
    # "<cue> is/: <value>": the value is a secret, whatever it looks like.
    re.compile(rf"\b(?:{_SECRET_CUES})\b\s*(?:is|was|=|:)\s*[:=]?\s*\S+", re.I),
    re.compile(r"\bpass(?:word|wd|code|phrase)\b\s*\S+", re.I),
    re.compile(r"<[@#][!&]?\d+>|<a?:\w+:\d+>"),  # Discord mentions and custom emoji
    re.compile(r"\b(?:https?://|www\.)\S+", re.I),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail addresses
    re.compile(r"(?<![\w@])@\w[\w.]*"),  # handles
    re.compile(
        r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|gg|dev|co|uk|de|fr|es|it|nl|app|xyz|me|tv|ly|"
        r"info|edu|gov)\b(?:/\S*)?",
        re.I,
    ),
    # Street addresses, with or without the house number ("12 Elm Street", "on Baker St").
    re.compile(rf"\b\d+\w?\s+(?:[^\W\d_][\w'-]*\s+){{1,3}}(?:{_STREET_TYPES})\b\.?", re.I),
    re.compile(rf"\b(?:[A-Z][\w'-]*\s+){{1,3}}(?:{_NAMED_STREETS.title()})\b\.?"),
    re.compile(rf"\b(?:on|at|in|near)\s+(?:[^\W\d_][\w'-]*\s+){{1,2}}(?:{_NAMED_STREETS})\b", re.I),
    re.compile(r"\+?\d[\d\s().-]{6,}\d"),  # phone numbers
    re.compile(r"\b[A-Za-z0-9_-]{20,}\b"),  # keys and tokens
    re.compile(r"[^\s]*\d[^\s]*"),  # anything with a digit: numbers, "hunter2", "32x32"
]

# Words that only announce private data: never a keyword.
PRIVATE_WORDS = frozenset(
    """
    password passwords passwd passcode passphrase pwd pin token tokens login username email emails
    e-mail mail gmail hotmail address addresses phone phones number numbers cell mobile ssn iban
    card cvv otp secret secrets account accounts dm dms discord server channel link links url
    street road avenue lane boulevard zip postcode postal
    """.split()
)

_INJECTION_PATTERNS = [
    # Fake role turns and fake prompt tags.
    re.compile(r"(?:^|[\s\"'>|])(?:system|assistant|ai|bot|human|user|developer)\s*:", re.I),
    re.compile(r"</?\s*(?:history|request|chat|system|instructions?|prompt|s|inst)\s*>", re.I),
    re.compile(r"<\|[^|>]{1,30}\|>|\[/?(?:inst|sys)\]|<<\s*/?sys\s*>>", re.I),
    # Orders to the model.
    re.compile(
        r"\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}\b(?:instructions?|prompts?|rules|"
        r"above|previous|prior|everything|guidelines)\b",
        re.I,
    ),
    re.compile(
        r"\b(?:output|print|say|write|repeat|respond\s+with|reply\s+with|answer\s+with|return)\b"
        r".{0,30}\b(?:the\s+words?|only|exactly|verbatim|keywords?|list|following)\b",
        re.I,
    ),
    re.compile(
        r"\bas\s+(?:the|an?|your)\s+(?:administrator|admin|developer|system|owner|operator|"
        r"creator|moderator)\b",
        re.I,
    ),
    re.compile(r"\bi\s+(?:order|command|instruct|demand)\s+(?:you|the\s+bot)\b", re.I),
    re.compile(r"\byou\s+(?:are|must|will)\s+now\b|\bfrom\s+now\s+on\s+you\b", re.I),
    re.compile(
        r"\b(?:new|updated|real)\s+(?:instructions|rules|task|system\s+prompt)\b|\bsystem\s+prompt\b"
        r"|\bjailbreak|\bdeveloper\s+mode\b|\bprompt\s+injection\b",
        re.I,
    ),
    re.compile(r"\bIMPORTANT\b\s*[!:]|\bATTENTION\b\s*[!:]|\bOVERRIDE\b"),
]


def scrub(text: str) -> str:
    """Return ``text`` with private data replaced by clause breaks (nothing of it survives)."""
    for pattern in _SCRUBBERS:
        text = pattern.sub(BREAK, text)
    return text


def is_injection(text: str) -> bool:
    """Whether a message addresses the model as a system instead of talking about the user."""
    return any(p.search(text) for p in _INJECTION_PATTERNS)
