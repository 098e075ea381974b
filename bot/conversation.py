"""One chat turn: store both sides, answer from a short window and the user's keywords.

The same steps as the terminal chat (``pmg chat``), for a Discord message.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmg_engine.behaviours import emoji_names
from pmg_engine.chat import ChatReplier
from pmg_engine.keywords.chains import EMOTION_LEXICON
from pmg_engine.keywords.text import words
from pmg_engine.service import PMGService

# The engine's emotion lexicon, plus words that emoji names use for the same feelings.
_EMOJI_CUES = {"smiling": "joy", "grinning": "joy", "beaming": "joy", "pouting": "anger"}
_CUES = {cue: emotion for emotion, cues in EMOTION_LEXICON.items() for cue in cues.split()}
_CUES.update({cue: emotion for cue, emotion in _EMOJI_CUES.items() if cue not in _CUES})


@dataclass(frozen=True)
class Turn:
    """The bot's answer to one message and what came with it."""

    reply: str
    learned: bool
    mood: str | None
    cut_to: int | None = None


def mood_of(text: str) -> str | None:
    """Return the emotion a message expresses (its words and emoji names), or ``None``."""
    tokens = [w.casefold() for w in words(text)]
    tokens += [w for name in emoji_names(text) for w in words(name)]
    for token in tokens:
        if token in _CUES:
            return _CUES[token]
    return None


async def converse(
    service: PMGService,
    replier: ChatReplier,
    *,
    user_id: int,
    user_name: str,
    content: str,
    channel_id: int | None,
    guild_id: int | None,
    message_id: int | None,
) -> Turn:
    """Store the message, answer it, store the answer (the service's chat turn) + the mood."""
    turn = await service.converse(
        replier,
        user_id=user_id,
        user_name=user_name,
        content=content,
        channel_id=channel_id,
        guild_id=guild_id,
        discord_message_id=message_id,
    )
    return Turn(reply=turn.reply, learned=turn.learned, mood=mood_of(content), cut_to=turn.cut_to)
