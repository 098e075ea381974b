"""The mood of a chat message: one lexicon rule, for the sticker target and the bot's offer.

The paper's chat sticker answers the conversation's emotion (PAPER.md section 2.2). Without a
model the emotion is the lexicon's: the emotion whose cue words and emoji names occur most.
"""

from __future__ import annotations

from pmg_engine.behaviours import emoji_names
from pmg_engine.keywords.text import words

EMOTION_LEXICON = {
    # Emoji names say "smiling", "grinning", "beaming" and "pouting" for these feelings.
    "joy": "happy laugh laughing lol haha yay yes won win great love awesome joy party tears "
    "smiling grinning beaming",
    "sadness": "sad cry crying miss lost sorry unhappy tears down lonely",
    "anger": "angry mad furious hate annoyed rage pouting",
    "surprise": "wow omg what surprised shocked really astonished",
    "fear": "scared afraid fear nervous anxious scream",
    "tiredness": "tired sleepy exhausted sleep yawn bored",
    "love": "love heart kiss cute adore hug",
}
# The emotion of a chat that expresses none.
NEUTRAL_MOOD = "calm"


def mood_of(text: str) -> str | None:
    """Return the emotion whose cues ``text`` uses most (words and emoji names), or ``None``.

    A tie goes to the emotion listed first in ``EMOTION_LEXICON``.
    """
    tokens = words(text) + [w for name in emoji_names(text) for w in words(name)]
    counts = {
        emotion: sum(tokens.count(cue) for cue in cues.split())
        for emotion, cues in EMOTION_LEXICON.items()
    }
    best = max(counts, key=lambda emotion: counts[emotion])
    return best if counts[best] > 0 else None
