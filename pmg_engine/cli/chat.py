"""``pmg chat`` and ``pmg generate``: the bot's behaviour in a terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import SQLAlchemyError

from pmg_engine.cli._runtime import (
    Database,
    fail,
    get_settings,
    open_database,
    print_json,
    run_async,
)
from pmg_engine.db import migrate
from pmg_engine.errors import PMGError
from pmg_engine.queue import jobs
from pmg_engine.text import clean_text, cut_note

if TYPE_CHECKING:
    # The engine imports torch: loaded when a command runs, not when `pmg --help` does.
    from config import Settings
    from pmg_engine.chat import ChatReplier
    from pmg_engine.service import GenerationResult, KeywordRuleKind, PMGService, Progress

log = logging.getLogger(__name__)

HELP = """commands:
  /sticker [what]   draw a sticker (without words: one that answers our chat)
  /image what       draw a full-size image
  /rate up|down     rate the last result (it feeds what I learn)
  /keywords         show what I learned about you
  /weight 0..1      how much your taste counts (0 ignore it, 1 all about it)
  /pin word | /ban word | /learning on|off
  /export [file.zip] everything stored about you, with your pictures
  /forget yes       erase everything stored about you
  /help | /quit"""


@dataclass
class Session:
    """One terminal conversation."""

    service: PMGService
    replier: ChatReplier
    user_id: int
    name: str
    last: GenerationResult | None = None


@asynccontextmanager
async def engine_service(
    settings: Settings, *, with_generator: bool = True
) -> AsyncIterator[tuple[PMGService, Database, list[str], ChatReplier]]:
    """Open the database (migrating the embedded default) and load the models once."""
    from pmg_engine.chat import ChatReplier
    from pmg_engine.runtime import build_models, service_config
    from pmg_engine.service import PMGService

    if settings.database.url is None:
        await migrate.upgrade(settings.database_url)
    async with open_database(settings) as db:
        loaded = await asyncio.to_thread(build_models, settings, with_generator=with_generator)
        service = PMGService(
            sessions=db.sessions, models=loaded.models, config=service_config(settings)
        )
        # Chat turns and votes refresh the profile in the background; the pending ones are
        # flushed when the chat ends.
        await service.refresher.start()
        try:
            yield service, db, loaded.notes, ChatReplier(loaded.llm)
        finally:
            await service.refresher.close()


def _progress(event: Progress) -> None:
    if event.stage == "generating" and event.total:
        click.echo(f"\r  drawing… step {event.step}/{event.total}", nl=False, err=True)
    elif event.stage == "saving":
        click.echo("", err=True)


def _show(result: GenerationResult) -> None:
    click.echo(f"bot: here you go → {result.output_path}")
    click.echo(f"     drawn from: {', '.join(result.target_keywords) or '-'}")
    taste = ", ".join(result.preference_keywords) or "(not personalized)"
    click.echo(f"     your taste: {taste}  (weight {result.personalization_weight:.2f})")


@click.command("generate")
@click.option("--user", "user_name", required=True, help="A local user name.")
@click.option("--kind", type=click.Choice(["sticker", "image"]), default="sticker")
@click.option("--weight", type=float, default=None, help="Personalization weight 0..1.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.argument("prompt")
@click.pass_context
@run_async
async def generate(
    ctx: click.Context,
    user_name: str,
    kind: str,
    weight: float | None,
    seed: int | None,
    as_json: bool,
    prompt: str,
) -> None:
    """Generate one personalized sticker or image for a local user."""
    from pmg_engine.service import GenerationRequest, Kind, local_user_id

    settings = get_settings(ctx)
    async with engine_service(settings) as (service, _, notes, _replier):
        if service.models.generator is None:
            problem = next((n for n in notes if "generator" in n.lower()), None)
            fail(problem or "no image generator is available")
        for note in notes:
            click.echo(f"note: {note}", err=True)
        request = GenerationRequest(
            user_id=local_user_id(user_name),
            user_name=user_name,
            prompt=prompt,
            kind=Kind(kind),
            personalization_weight=weight,
            seed=seed,
        )
        result = await service.generate(
            request,
            on_progress=None if as_json else _progress,
            worker_id=jobs.local_worker_id("generate"),
        )
    if as_json:
        print_json(dataclasses.asdict(result))
    else:
        _show(result)


@click.command("chat")
@click.option("--user", "user_name", default="you", show_default=True, help="A local user name.")
@click.pass_context
@run_async
async def chat(ctx: click.Context, user_name: str) -> None:
    """Chat in the terminal with the same behaviour as the Discord bot."""
    from pmg_engine.service import local_user_id

    user_name = " ".join(clean_text(user_name).split()) or "you"
    settings = get_settings(ctx)
    async with engine_service(settings) as (service, _, notes, replier):
        for note in notes:
            click.echo(f"note: {note}", err=True)
        reclaimed = await jobs.reclaim_stale(sessions=service.sessions)
        if reclaimed.failed:
            click.echo(
                f"note: {len(reclaimed.failed)} picture(s) interrupted when an earlier chat "
                "stopped are marked failed",
                err=True,
            )
        session = Session(service, replier, local_user_id(user_name), user_name)
        click.echo(f"Hi {user_name}! Tell me what you like. /help lists the commands.")
        click.echo(
            "I store our chat and what I learn in the local database; "
            "/export copies it and /forget erases it."
        )
        while True:
            try:
                line = await asyncio.to_thread(_read_line)
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line in {"/quit", "/exit"}:
                break
            await _handle_safely(session, line)
    click.echo("bye!")


async def _handle_safely(session: Session, line: str) -> None:
    """Handle one line; whatever goes wrong is one sentence, and the chat goes on."""
    try:
        await _handle(session, line)
    except PMGError as exc:
        click.echo(f"bot: {exc}")
    except SQLAlchemyError as exc:
        # The statement's parameters are the user's text: never shown (hide_parameters).
        log.warning("chat line failed in the database: %s", type(exc).__name__)
        click.echo("bot: the database refused that line; nothing of it was stored.")
    except Exception as exc:
        log.warning("chat line failed: %s", type(exc).__name__, exc_info=log.isEnabledFor(10))
        click.echo(f"bot: something went wrong with that line ({type(exc).__name__}); go on.")


def _read_line() -> str:
    """Read one line as clean text: invalid UTF-8, NUL and control characters never pass."""
    if sys.stdin.isatty():
        return clean_text(input("> "))
    line = sys.stdin.buffer.readline()
    if not line:
        raise EOFError
    return clean_text(line)


async def _handle(session: Session, line: str) -> None:
    from pmg_engine.service import GenerationRequest, Kind

    service = session.service
    command, _, argument = line.partition(" ")
    argument = argument.strip()
    if command in {"/sticker", "/image"}:
        if service.models.generator is None:
            click.echo("bot: I can't draw yet: no image generator is configured.")
            return
        request = GenerationRequest(
            user_id=session.user_id,
            user_name=session.name,
            prompt=argument or None,
            kind=Kind(command.removeprefix("/")),
        )
        session.last = await service.generate(
            request, on_progress=_progress, worker_id=jobs.local_worker_id("chat")
        )
        _show(session.last)
    elif command == "/rate":
        if session.last is None or argument not in {"up", "down"}:
            click.echo("bot: rate a result with /rate up or /rate down after a /sticker.")
            return
        await service.record_feedback(
            user_id=session.user_id,
            generation_id=session.last.generation_id,
            liked=argument == "up",
        )
        click.echo("bot: thanks, noted!")
    elif command == "/export":
        await _export(session, argument)
    elif command == "/forget":
        await _forget(session, argument)
    elif command in {"/keywords", "/weight", "/pin", "/ban", "/learning"}:
        await _preferences(session, command, argument)
    elif command == "/help":
        click.echo(HELP)
    elif command.startswith("/"):
        click.echo(f"bot: I don't know {command}. /help lists the commands.")
    else:
        await _talk(session, line)


async def _export(session: Session, argument: str) -> None:
    path = Path(argument or f"pmg-export-{session.user_id}.zip")
    if path.suffix.lower() != ".zip":
        path = path.with_suffix(".zip")
    export = await session.service.users.export_archive(user_id=session.user_id)
    await asyncio.to_thread(path.write_bytes, export.archive)
    click.echo(f"bot: everything I store about you, with your pictures, is in {path}")


async def _forget(session: Session, argument: str) -> None:
    if argument != "yes":
        click.echo("bot: this erases our chat, what I learned and your pictures: /forget yes")
        return
    # This process draws in line, so only rows an earlier chat left queued can be open.
    summary = await session.service.users.forget(user_id=session.user_id)
    session.last = None
    click.echo(f"bot: done: I {summary.sentence()} about you.")


async def _talk(session: Session, text: str) -> None:
    turn = await session.service.converse(
        session.replier,
        user_id=session.user_id,
        user_name=session.name,
        content=text,
        source="local",
    )
    click.echo(f"bot: {turn.reply}")
    if turn.cut_to is not None:
        click.echo(f"     ({cut_note(turn.cut_to)})")


async def _preferences(session: Session, command: str, argument: str) -> None:
    users, user_id, name = session.service.users, session.user_id, session.name
    if command == "/weight":
        try:
            value = float(argument)
        except ValueError:
            click.echo("bot: give the weight as a number between 0 and 1, e.g. /weight 0.7")
            return
        prefs = await users.set_weight(user_id=user_id, name=name, weight=value)
        click.echo(f"bot: your taste now counts {prefs.personalization_weight:.2f}.")
    elif command in {"/pin", "/ban"}:
        rule: KeywordRuleKind = "pin" if command == "/pin" else "ban"
        stored = await users.set_keyword_rule(
            user_id=user_id, name=name, keyword=argument, rule=rule
        )
        click.echo(f"bot: {'pinned' if rule == 'pin' else 'banned'} “{stored.keyword}”.")
    elif command == "/learning":
        if argument not in {"on", "off"}:
            click.echo("bot: use /learning on or /learning off.")
            return
        await users.set_learning(user_id=user_id, name=name, enabled=argument == "on")
        click.echo(f"bot: learning is {argument}.")
    elif command == "/keywords":
        await users.ensure(user_id=user_id, name=name)
        taste = await session.service.taste(user_id=user_id)
        report, profile = taste.report, taste.report.profile
        learned = profile.keywords if profile is not None else []
        click.echo(f"bot: what I learned: {', '.join(learned) or 'nothing yet'}")
        pins, bans = report.pinned_keywords, report.banned_keywords
        click.echo(f"     pinned: {', '.join(pins) or '-'}; banned: {', '.join(bans) or '-'}")
        version = profile.version if profile is not None else 0
        click.echo(f"     weight {report.personalization_weight:.2f}, profile v{version}")
        click.echo(f"     your look: {taste.look or 'not known yet'}")
