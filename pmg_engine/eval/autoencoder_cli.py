"""``pmg eval autoencoder``: autoencoders compared on held-out renderings, and a colour grid."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.eval.samples import DEFAULT_EVAL_DIR, DOCS_SAMPLES_DIR
from pmg_engine.train.cli import DEFAULT_ROOT

GRID_NAME = "autoencoder-colour-grid.png"
FIGURES_NAME = "eval-autoencoder.json"
DEFAULT_COUNT = 512


@click.command("autoencoder")
@click.option(
    "--vae",
    "vae_paths",
    multiple=True,
    help="An autoencoder folder (diffusers layout), as NAME=DIR or DIR; repeat to compare "
    "[default: builtin=pmg_engine/assets/generator/vae].",
)
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_ROOT / "cache",
    show_default=True,
    help="Where decoded renderings are cached (shared with `pmg train`).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=DEFAULT_COUNT,
    show_default=True,
    help="Held-out test-split renderings to measure on.",
)
@click.option(
    "--docs",
    "to_docs",
    is_flag=True,
    help=f"Write the grid and the figures into {DOCS_SAMPLES_DIR}/ instead of {DEFAULT_EVAL_DIR}/.",
)
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
def autoencoder_command(
    vae_paths: tuple[str, ...],
    corpus_dir: Path,
    cache_dir: Path,
    count: int,
    to_docs: bool,
    threads: int,
) -> None:
    """Print PSNR, CIEDE2000, hue and alpha error of each autoencoder; save a colour grid."""
    import torch
    from diffusers import AutoencoderKL

    from pmg_engine.corpus import load_manifest
    from pmg_engine.eval.autoencoder import (
        grid_items,
        heldout_items,
        measure,
        reconstruct,
        write_grid,
    )
    from pmg_engine.runtime import BUILTIN_GENERATOR, quiet_model_libraries
    from pmg_engine.train.data import load_images

    started = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    quiet_model_libraries()
    # 1. Names and folders, each checked before anything loads.
    named = _named(vae_paths or (f"builtin={BUILTIN_GENERATOR / 'vae'}",))
    manifest = corpus_dir / "manifest.jsonl"
    if not manifest.is_file():
        raise click.ClickException(f"no corpus manifest at {manifest}: run `pmg data build`")
    items = load_manifest(manifest)
    try:
        measured = heldout_items(items, count)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    shown = grid_items([item for item in items if item.split != "train"])
    originals = load_images(corpus_dir, measured, size=64, cache_dir=cache_dir)
    grid_originals = load_images(
        corpus_dir, [item for _, item in shown], size=64, cache_dir=cache_dir
    )
    click.echo(f"renderings: {len(measured)} of the test split; grid: {len(shown)} items")
    # 2. Each autoencoder in turn, on the same renderings.
    results: dict[str, dict[str, float]] = {}
    rows: dict[str, torch.Tensor] = {}
    for name, folder in named.items():
        vae = AutoencoderKL.from_pretrained(str(folder)).eval()  # type: ignore[no-untyped-call]
        figures = measure(originals, reconstruct(vae, originals))
        results[name] = figures.to_json()
        rows[name] = reconstruct(vae, grid_originals)
        click.echo(
            f"{name}: PSNR {figures.psnr_db:.2f} dB, CIEDE2000 {figures.ciede2000:.2f}, "
            f"hue error {figures.hue_error_deg:.1f} deg on saturated pixels, "
            f"alpha L1 {figures.alpha_l1:.2f}"
        )
    names = list(named)
    if len(names) > 1:
        first, last = results[names[0]], results[names[-1]]
        click.echo(
            f"{names[-1]} vs {names[0]}: PSNR {last['psnr_db'] - first['psnr_db']:+.2f} dB, "
            f"CIEDE2000 x{last['ciede2000'] / first['ciede2000']:.2f}"
        )
    # 3. The grid (rows: original, then each autoencoder) and the figures file.
    out_dir = DOCS_SAMPLES_DIR if to_docs else DEFAULT_EVAL_DIR
    grid = write_grid(out_dir / GRID_NAME, grid_originals, rows)
    data = {
        "split": "test",
        "renderings": len(measured),
        "autoencoders": {name: str(folder) for name, folder in named.items()},
        "figures": results,
        "grid": {"rows": ["original", *names], "columns": [f"{c}: {i.id}" for c, i in shown]},
        "seconds": round(time.perf_counter() - started, 1),
    }
    json_out = out_dir / FIGURES_NAME
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    click.echo(f"grid: {grid}; figures: {json_out}; took {data['seconds']:.0f} s")


def _named(values: tuple[str, ...]) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for value in values:
        name, _, folder = value.rpartition("=")
        path = Path(folder)
        name = name or path.parent.name or path.name
        if name in named:
            raise click.BadParameter(f"two autoencoders are named {name!r}", param_hint="--vae")
        if not (path / "config.json").is_file():
            raise click.BadParameter(
                f"no autoencoder at {path} (no config.json)", param_hint="--vae"
            )
        named[name] = path
    return named
