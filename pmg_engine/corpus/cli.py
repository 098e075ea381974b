"""``pmg data``: build the open emoji corpus that the offline models train on."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.corpus.packages import DEFAULT_CACHE_DIR
from pmg_engine.corpus.sources import DEFAULT_SOURCE_SETS, styles_of


@click.group("data")
def data_group() -> None:
    """Build and inspect the emoji training corpus."""


@data_group.command("build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
    help="Folder for the renders, manifest.jsonl and summary.json.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE_DIR,
    show_default=True,
    help="Folder for the fetched npm packages.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Only the first N concepts in emojibase order (a quick trial build).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Render processes."
)
@click.option(
    "--size",
    "sizes",
    type=click.IntRange(min=8, max=1024),
    multiple=True,
    default=(64, 128),
    show_default=True,
    help="Square size in pixels; repeat for several.",
)
@click.option(
    "--allow-missing-style",
    "allow_missing",
    type=click.Choice(styles_of(DEFAULT_SOURCE_SETS)),
    multiple=True,
    help="Build without this style when it cannot be obtained (repeatable). Without it, a "
    "missing style stops the build: the corpus, its splits and every figure would differ.",
)
def build(
    out_dir: Path,
    cache_dir: Path,
    limit: int | None,
    workers: int,
    sizes: tuple[int, ...],
    allow_missing: tuple[str, ...],
) -> None:
    """Fetch the emoji sets, render them and write the manifest (cached, deterministic)."""
    from pmg_engine.corpus.build import CorpusSourceError, build_corpus

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        summary = build_corpus(
            out_dir=out_dir,
            cache_dir=cache_dir,
            sizes=tuple(sizes),
            workers=workers,
            limit=limit,
            allow_missing=allow_missing,
        )
    except CorpusSourceError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"manifest: {summary.manifest_path} ({summary.items} images)")
    for style, count in summary.by_style.items():
        click.echo(f"  {style:<22} {count:>6}  ({summary.sources[style]})")
    click.echo("  splits: " + ", ".join(f"{k} {v}" for k, v in summary.by_split.items()))
    click.echo(f"  rendered {summary.rendered}, reused {summary.reused}")
    click.echo(f"  fingerprint {summary.fingerprint} (ids, captions, splits and 64 px pixels)")
    if summary.missing:
        click.echo("  not drawable: " + ", ".join(f"{k} {v}" for k, v in summary.missing.items()))
    if summary.skipped_styles:
        click.echo(
            "  built WITHOUT styles: "
            + ", ".join(summary.skipped_styles)
            + " (a different corpus: its splits and figures are not the model cards')"
        )
    click.echo(f"  took {time.monotonic() - started:.0f} s")
