"""Keyword candidates from behaviour lines, by rules that hold whatever ranks them afterwards.

PAPER.md section 2.1 asks for preference keywords; DESIGN.md section 6 asks that they come from
the user's own words. The rules (measured in ``benchmarks/keyword_quality.py``):

- a phrase is a run of content words inside one clause: it never crosses punctuation, an emoji,
  a line, or a removed private span, and no filler word sits inside it;
- a thing spoken of with dislike ("I hate clowns", "clowns? hell no") is never taste;
- a request's subject counts as interest in that subject (``cat``, ``coffee`` for "a cat
  drinking coffee"), never the request's phrase with its verb;
- private data and injected instructions never become candidates (``privacy``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pmg_engine.behaviours import emoji_names
from pmg_engine.keywords.privacy import BREAK, PRIVATE_WORDS, is_injection, scrub
from pmg_engine.keywords.text import INSTRUCTION_WORDS, is_meaningful, stem, words

_SAID_RE = re.compile(r'^(?P<who>[^"\n]{1,40}?) said: "(?P<text>.*)"$', re.S)
_EMOJI_RE = re.compile(r"^(?P<who>[^\n]{1,40}?) used the emoji (?P<name>.+)$")
_REQUEST_RE = re.compile(r'^User asked for an? \w+ of "(?P<text>.*)"$', re.S)
_FEEDBACK_RE = re.compile(
    r'^User (?P<verb>liked|disliked) an? \w+ of "(?P<text>.*)"(?: with (?P<shown>.*))?$', re.S
)
_CLAUSE_RE = re.compile(
    r"[.,;:!?()\[\]{}\"<>=/|\\…~*+&^%$#@]+|\s[-\u2013\u2014]+\s|\n"
    r"|\s(?:but|though|tho|although|except|whereas|unlike)\s",
    re.I,
)

NEGATIVE_CUES = frozenset(
    """
    not no never nope nah don't dont doesn't doesnt didn't didnt can't cant cannot won't wont
    isn't isnt aren't arent wasn't hate hates hated hating dislike dislikes disliked despise
    despises loathe loathes refuse refuses scared afraid fear fears terrified freak freaks creepy
    cursed overdone overrated disgusting gross boring worst awful terrible ew eww yuck sucks
    anxious annoying ruined ruin crime cringe meh ugh
    """.split()
)
# Negations that mean the opposite ("can't stop drawing cats").
_POSITIVE_NEGATIONS = re.compile(
    r"\b(?:can'?t|cannot|couldn'?t)\s+(?:stop|wait|get\s+enough|resist)\b|\bnot\s+bad\b"
    r"|\bno\s+doubt\b|\bnever\s+(?:gets?\s+old|enough)\b",
    re.I,
)
POSITIVE_CUES = frozenset(
    """
    love loves loved loving adore adores adored favourite favorite favourites favorites fav fave
    obsessed obsession best cutest prettiest beautiful gorgeous cute pretty dream dreaming
    weakness aesthetic vibe vibes peak elite perfect heaven magic magical therapy comfort
    addicted passion enjoy enjoys into collecting collect forever obsessing
    encanta encantan adoro amo j'adore aime aimes liebe gusta gustan amo adoro
    """.split()
)
# Pronoun objects: "i hate it" negates the clause before it.
_PRONOUNS = frozenset("it them that those this these him her".split())
# Animals whose emoji is named "<animal> face".
_FACE_ANIMALS = frozenset(
    """
    cat dog frog fox wolf panda horse unicorn rabbit tiger monkey pig cow bear mouse hamster koala
    lion dragon
    """.split()
)
_COLOUR_HEARTS = frozenset("purple blue green yellow orange black white brown pink".split())
# Emoji names that describe a reaction or decoration, not a thing (💀 is "I'm dead" laughter).
_REACTION_EMOJI = re.compile(
    r"\b(?:face|hand|hands|fist|thumbs|eyes|eye|sign|mark|sparkles|popper|points|symbol|button|"
    r"arrow|collision|person|man|woman|kiss|clapping|folded|flexed|speech|balloon|dizzy|droplet|"
    r"sweat|zzz|skull|fire|heart|hearts|ok|cross|check|exclamation|question|star-struck|"
    r"medal|trophy|crown|confetti|tada)\b"
)
MAX_PHRASE_WORDS = 3
EMOJI_WEIGHT = 2.0
# Mentions count less with age: half weight 200 lines back (the window is 200 lines at most).
RECENCY_HALF_LIFE = 200.0


@dataclass
class Candidate:
    """A keyword candidate: its score, the lines it came from, and how it was written."""

    keyword: str
    score: float = 0.0
    lines: list[int] = field(default_factory=list)
    forms: Counter[str] = field(default_factory=Counter)
    words: int = 1

    @property
    def count(self) -> int:
        """How many times the candidate was mentioned (any form)."""
        return sum(self.forms.values())


@dataclass
class Candidates:
    """Ranked candidates, the stems spoken of with dislike, and the lines dropped as injection."""

    ranked: list[Candidate]
    negated: set[str]
    dropped_lines: list[int]

    def is_negated(self, keyword: str) -> bool:
        """Whether any word of ``keyword`` names a thing spoken of with dislike."""
        return any(stem(w) in self.negated for w in keyword.split())


def content_word(word: str) -> bool:
    """Whether a word may sit in a keyword: not filler, a cue, private, an instruction or a
    past-tense verb ("scheduled", "knocked")."""
    past = len(word) > 4 and word.endswith("ed") and not word.endswith("eed")
    return (
        not past
        and is_meaningful(word)
        and word not in PRIVATE_WORDS
        and word not in NEGATIVE_CUES
        and word not in POSITIVE_CUES
        and word not in INSTRUCTION_WORDS
    )


def emoji_keyword(name: str) -> str | None:
    """Return the keyword an emoji name stands for (``cat face`` -> ``cat``), or ``None``."""
    name = name.casefold()
    first, _, rest = name.partition(" ")
    if rest.startswith("face") and first in _FACE_ANIMALS:
        return first
    if rest == "heart" and first in _COLOUR_HEARTS:
        return first
    if _REACTION_EMOJI.search(name):
        return None
    tokens = words(name)
    if not tokens or len(tokens) > MAX_PHRASE_WORDS or not any(content_word(t) for t in tokens):
        return None
    return " ".join(tokens)


def _strip_emoji(text: str) -> str:
    names = emoji_names(text)
    if not names:
        return text
    out = []
    for char in text:
        out.append(BREAK if ord(char) >= 0x2190 and not char.isalnum() else char)
    return "".join(out)


def _clauses(text: str) -> list[list[str]]:
    return [words(part) for part in _CLAUSE_RE.split(text)]


def _is_negative(tokens: Sequence[str], raw: str) -> bool:
    if _POSITIVE_NEGATIONS.search(raw):
        return False
    return any(t in NEGATIVE_CUES for t in tokens) or "hell no" in raw or "not for me" in raw


def _runs(tokens: Sequence[str], *, drop_verbs: bool) -> list[list[str]]:
    runs: list[list[str]] = [[]]
    for token in tokens:
        verb = drop_verbs and (token.endswith("ing") or token.endswith("ed")) and len(token) > 4
        if content_word(token) and not verb:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _phrases(run: Sequence[str]) -> Iterable[str]:
    """Single words, and adjacent pairs and triples of one run."""
    for size in range(1, MAX_PHRASE_WORDS + 1):
        for start in range(len(run) - size + 1):
            yield " ".join(run[start : start + size])


class _Tally:
    def __init__(self) -> None:
        self.found: dict[str, Candidate] = {}
        self.negated: set[str] = set()
        self.negative_weight: dict[str, float] = {}

    def add(self, phrase: str, weight: float, line: int) -> None:
        key = " ".join(stem(w) for w in phrase.split())
        candidate = self.found.setdefault(key, Candidate(key, words=len(phrase.split())))
        # A phrase counts a little more than its words, so "studio ghibli" beats "studio".
        candidate.score += weight * (1.0 + 0.1 * (candidate.words - 1))
        candidate.forms[phrase] += 1
        if line not in candidate.lines:
            candidate.lines.append(line)

    def negate(self, tokens: Iterable[str], weight: float) -> None:
        for token in tokens:
            if content_word(token):
                self.negated.add(stem(token))
                key = stem(token)
                self.negative_weight[key] = self.negative_weight.get(key, 0.0) + weight

    def add_text(self, text: str, weight: float, line: int, *, request: bool = False) -> None:
        positive_message = any(
            "heart" in n or "smiling face with heart" in n for n in emoji_names(text)
        )
        clauses = _clauses(scrub(_strip_emoji(text)))
        raw_parts = _CLAUSE_RE.split(scrub(_strip_emoji(text)))
        previous: list[str] = []
        for tokens, raw in zip(clauses, raw_parts, strict=True):
            if not tokens:
                continue
            lowered = raw.casefold()
            content = [t for t in tokens if content_word(t)]
            if _is_negative(tokens, lowered):
                if not content or all(t in _PRONOUNS for t in content):
                    # "clowns? hell no", "the city is too loud, i hate it"
                    self.negate(previous, weight)
                else:
                    self.negate(tokens, weight)
                    previous = []
                continue
            factor = 2.0 if positive_message or any(t in POSITIVE_CUES for t in tokens) else 1.0
            for run in _runs(tokens, drop_verbs=request):
                # A request names its subjects one by one ("cat", "coffee"), never as a phrase.
                for phrase in run if request else _phrases(run):
                    self.add(phrase, factor * weight, line)
            previous = content

    def ranked(self) -> list[Candidate]:
        kept = [
            c
            for c in self.found.values()
            if not any(
                w in self.negated and self.negative_weight.get(w, 0.0) >= _word_score(self, w)
                for w in c.keyword.split()
            )
        ]
        for candidate in kept:
            candidate.keyword = candidate.forms.most_common(1)[0][0]
        return sorted(kept, key=lambda c: (-c.score, c.lines[0], c.keyword))


def _word_score(tally: _Tally, stemmed: str) -> float:
    found = tally.found.get(stemmed)
    return found.score if found is not None else 0.0


def extract_candidates(lines: Sequence[str]) -> Candidates:
    """Return the ranked candidates of behaviour lines (newest last) and what was left out."""
    tally = _Tally()
    dropped: list[int] = []
    seen: set[str] = set()
    total = len(lines)
    for index, line in enumerate(lines):
        weight = 0.5 ** ((total - 1 - index) / RECENCY_HALF_LIFE)
        if match := _EMOJI_RE.match(line):
            if match["who"] == "User" and (keyword := emoji_keyword(match["name"])):
                # A pictogram chosen on purpose is already visual taste.
                tally.add(keyword, EMOJI_WEIGHT * weight, index)
            continue
        if match := _REQUEST_RE.match(line):
            if is_injection(match["text"]):
                dropped.append(index)
            else:
                tally.add_text(match["text"], weight, index, request=True)
            continue
        if match := _FEEDBACK_RE.match(line):
            text = match["text"]
            if is_injection(text):
                dropped.append(index)
            elif match["verb"] == "liked":
                tally.add_text(text, weight, index, request=True)
            else:
                tally.negate(words(scrub(text)), weight)
            continue
        match = _SAID_RE.match(line)
        if match is not None and match["who"] != "User":
            continue  # someone else's words are not this user's taste
        text = match["text"] if match is not None else line
        if is_injection(text):
            dropped.append(index)
            continue
        # A message sent again word for word ("classic", "lol") is a catchphrase: once.
        said = " ".join(text.casefold().split())
        if said in seen:
            continue
        seen.add(said)
        tally.add_text(text, weight, index)
    return Candidates(tally.ranked(), tally.negated, dropped)
