"""``pmg data reference-index``: build the reference index shipped for reference-guided mode."""

from __future__ import annotations

from pathlib import Path

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.reference._format import DEFAULT_MAX_BYTES, DEFAULT_STYLES, LICENCES


@click.command("reference-index")
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
    help="Folder of the corpus built by `pmg data build` (its manifest.jsonl).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/reference-index"),
    show_default=True,
    help="Folder to write the index to (replaced when the build succeeds).",
)
@click.option(
    "--style",
    "styles",
    type=click.Choice(sorted(LICENCES)),
    multiple=True,
    default=DEFAULT_STYLES,
    show_default=True,
    help="Style to include; repeat for several. OpenMoji (CC BY-SA) only when named.",
)
@click.option("--size", type=click.IntRange(8, 512), default=64, show_default=True)
@click.option(
    "--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True
)
@click.option(
    "--lossless", is_flag=True, help="Keep thumbnails lossless instead of a 256-colour palette."
)
def reference_index(
    corpus_dir: Path,
    out_dir: Path,
    styles: tuple[str, ...],
    size: int,
    max_bytes: int,
    lossless: bool,
) -> None:
    """Build the reference index: train-split thumbnails, captions and MiniLM vectors."""
    from pmg_engine.reference._build import build_reference_index
    from pmg_engine.reference._format import ReferenceIndexError

    try:
        summary = build_reference_index(
            corpus_dir / "manifest.jsonl",
            out_dir,
            styles=styles,
            size=size,
            max_bytes=max_bytes,
            colors=None if lossless else 256,
        )
    except ReferenceIndexError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"reference index: {summary.out_dir} ({summary.items} items)")
    for style, count in summary.by_style.items():
        click.echo(f"  {style:<22} {count:>6}")
    click.echo(f"  {summary.total_bytes / 2**20:.1f} MiB of {max_bytes / 2**20:.1f} MiB")
