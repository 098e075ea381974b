"""What users read: the privacy notice, progress lines, result, report and stats embeds."""

from __future__ import annotations

from pathlib import Path

import discord

from pmg_engine.queue import JobEvent
from pmg_engine.service import DatabaseStatsView, GenerationResult, UserReportView, report_rows

COLOUR = discord.Colour.from_rgb(255, 170, 200)
NOTICE = (
    "🔒 To learn what you like, I store our messages, the pictures you ask for and your 👍/👎. "
    "`/prefs show` shows what I learned, `/prefs export` sends you a copy of everything, "
    "`/prefs forget` erases it, and `/prefs learning off` stops the learning."
)
NOTICE_LEARNING_OFF = (
    "🔒 I store our messages and the pictures you ask for, but learning is off for you: "
    "`/prefs learning on` lets me learn your taste. `/prefs show`, `/prefs export` and "
    "`/prefs forget` show, copy or erase what is stored."
)
STAGES = {
    "keywords": "🧠 Reading your taste…",
    "scoring": "⚖️ Picking the best candidate…",
    "saving": "✨ Finishing…",
}


def notice(*, learning: bool) -> str:
    """Return the privacy notice shown with the first reply to a new user."""
    return NOTICE if learning else NOTICE_LEARNING_OFF


def progress_text(event: JobEvent) -> str | None:
    """Return the line that shows a job's progress, or ``None`` for a final event."""
    if event.kind == "queued":
        if event.position:
            return f"⏳ In the queue, position {event.position}…"
        return "⏳ Starting…"
    if event.kind == "started":
        return "🎨 Starting…"
    if event.kind == "progress":
        if event.stage == "generating" and event.total:
            return f"🎨 Drawing… step {event.step}/{event.total}"
        return STAGES.get(event.stage or "", "🎨 Drawing…")
    return None


def _keywords(words: list[str], empty: str) -> str:
    text = ", ".join(words) if words else empty
    return text[:1024]


def taste_note(result: GenerationResult) -> str | None:
    """Return the line that tells only the owner which of their tastes a picture used."""
    if not result.preference_keywords:
        return None
    return (
        f"🔒 Only you see this: #{result.generation_id} used your taste "
        f"({_keywords(result.preference_keywords, '-')}). `/prefs sharing on` shows it "
        "under your pictures."
    )


def result_embed(
    result: GenerationResult, *, requester_id: int, show_taste: bool = True
) -> discord.Embed:
    """Describe a result: what it was drawn from and, when allowed, the tastes it used.

    Preference keywords are learned from every chat, DMs included, so a picture in a server
    shows the request alone unless its owner turned sharing on (``/prefs sharing``).
    """
    title = f"“{result.prompt}”" if result.prompt else "A sticker for our chat"
    embed = discord.Embed(title=title[:256], colour=COLOUR, description=f"for <@{requester_id}>")
    if show_taste or result.prompt:
        # Without a prompt the target comes from the conversation: private unless shared.
        embed.add_field(
            name="Drawn from", value=_keywords(result.target_keywords, "-"), inline=False
        )
    if show_taste:
        embed.add_field(
            name="Your taste",
            value=_keywords(result.preference_keywords, "(not personalized)"),
            inline=False,
        )
    embed.add_field(name="Weight", value=f"{result.personalization_weight:.2f}")
    # A local model folder is shown by its name only; paths stay on the server.
    model = Path(result.model_id).name if Path(result.model_id).is_absolute() else result.model_id
    embed.set_footer(text=f"#{result.generation_id} · seed {result.seed} · {model}")
    return embed


def compare_embed(
    plain: GenerationResult, mine: GenerationResult, *, show_taste: bool = True
) -> discord.Embed:
    """Describe a side-by-side comparison of the same seed without and with the user's taste."""
    embed = discord.Embed(
        title="Without and with your taste",
        colour=COLOUR,
        description=f"Same prompt and seed ({mine.seed}): left weight 0, right weight "
        f"{mine.personalization_weight:.2f}.",
    )
    if show_taste or mine.prompt:
        embed.add_field(name="Drawn from", value=_keywords(mine.target_keywords, "-"), inline=False)
    if show_taste:
        embed.add_field(
            name="Your taste (right)",
            value=_keywords(mine.preference_keywords, "(not personalized)"),
            inline=False,
        )
    embed.set_footer(text=f"#{plain.generation_id} · #{mine.generation_id}")
    return embed


def report_embed(report: UserReportView) -> discord.Embed:
    """Show a user's stored preferences, as ``pmg-admin show`` prints them."""
    embed = discord.Embed(title=f"user {report.user_id} ({report.name})"[:256], colour=COLOUR)
    for name, value in report_rows(report):
        embed.add_field(name=name, value=value[:1024] or "-", inline=name not in {"keywords"})
    return embed


def stats_embed(stats: DatabaseStatsView, *, guilds: int, chat_channels: int) -> discord.Embed:
    """Show row counts per table, generations per status and the bot's reach."""
    embed = discord.Embed(title="PMG bot stats", colour=COLOUR)
    embed.add_field(name="servers", value=str(guilds))
    embed.add_field(name="chat channels", value=str(chat_channels))
    for name, count in stats.tables.items():
        embed.add_field(name=name, value=str(count))
    by_status = ", ".join(f"{s} {n}" for s, n in stats.generations_by_status.items())
    embed.add_field(name="generations by status", value=by_status or "none", inline=False)
    return embed
