"""``pmg eval upscaler``: the learned sticker upscaler against resampling on held-out pairs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.corpus.packages import DEFAULT_CACHE_DIR
from pmg_engine.eval.samples import DEFAULT_EVAL_DIR, DOCS_SAMPLES_DIR

GRID_NAME = "upscaler-grid.png"
FIGURES_NAME = "eval-upscaler.json"
GRID_ROWS = 6


@click.command("upscaler")
@click.option(
    "--upscaler",
    "upscaler_path",
    default="builtin",
    show_default=True,
    help="Upscaler folder (config.json + model.safetensors); builtin: pmg_engine/assets/upscaler.",
)
@click.option(
    "--pairs",
    "pairs_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A pairs .npz [default: the corpus's pairs, rendered once into data/train/upscaler].",
)
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
)
@click.option(
    "--sources",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE_DIR,
    show_default=True,
    help="The npm packages `pmg data build` fetched (the pairs' vector sources).",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Held-out pairs to use.")
@click.option(
    "--docs",
    "to_docs",
    is_flag=True,
    help=f"Write the grid and the figures into {DOCS_SAMPLES_DIR}/ instead of {DEFAULT_EVAL_DIR}/.",
)
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
def upscaler_command(
    upscaler_path: str,
    pairs_path: Path | None,
    corpus_dir: Path,
    sources: Path,
    count: int | None,
    to_docs: bool,
    threads: int,
) -> None:
    """Print PSNR and edge sharpness of bicubic, the sticker resampling and the learned upscaler."""
    import torch
    from PIL import Image

    from pmg_engine.eval.upscaler import (
        UpscalerReport,
        evaluate_upscaler,
        grid_rows,
        learned,
        resample,
        write_grid,
    )
    from pmg_engine.models.upscaler import load_upscaler
    from pmg_engine.runtime import BUILTIN, BUILTIN_UPSCALER
    from pmg_engine.train.upscaler_pairs import Pairs, corpus_pairs

    started = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    out_dir = DOCS_SAMPLES_DIR if to_docs else DEFAULT_EVAL_DIR
    # 1. The upscaler and the held-out pairs; each failure one sentence.
    folder = BUILTIN_UPSCALER if upscaler_path == BUILTIN else Path(upscaler_path)
    try:
        upscaler = load_upscaler(folder)
        if pairs_path is not None:
            pairs = Pairs.load(pairs_path)
        else:
            pairs, pairs_path = corpus_pairs(corpus_dir=corpus_dir, sources_cache=sources)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    used = len(pairs.heldout_ids) if count is None else min(count, len(pairs.heldout_ids))
    low, high = pairs.heldout_low[:used], pairs.heldout_high[:used]
    if high.shape[1] != low.shape[1] * upscaler.scale:
        raise click.ClickException(
            f"the upscaler enlarges {upscaler.scale}x, the pairs are {low.shape[1]} -> "
            f"{high.shape[1]} px"
        )
    click.echo(f"pairs: {pairs_path} ({used} held-out of the val and test splits)")
    # 2. Figures, then the grid: bicubic | learned | truth.
    methods = {
        "bicubic": resample(Image.Resampling.BICUBIC),
        "lanczos (sticker resampling)": resample(Image.Resampling.LANCZOS),
        "learned": learned(upscaler),
    }
    figures = evaluate_upscaler(low=low, high=high, methods=methods)
    grid = write_grid(
        out_dir / GRID_NAME,
        low=low,
        high=high,
        rows=grid_rows(pairs.heldout_ids[:used], GRID_ROWS),
        methods={"bicubic": methods["bicubic"], "learned": methods["learned"]},
    )
    report = UpscalerReport(
        pairs=used,
        low_px=int(low.shape[1]),
        high_px=int(high.shape[1]),
        figures=figures,
        grid_path=grid,
    )
    for line in report.lines():
        click.echo(line)
    gain = figures["learned"]["psnr_premultiplied_db"] - figures["bicubic"]["psnr_premultiplied_db"]
    click.echo(f"learned vs bicubic: {gain:+.2f} dB (RGBA premultiplied)")
    data = {
        **report.to_json(),
        "upscaler": upscaler_path,
        "pairs_file": pairs_path.name,
        "seconds": round(time.perf_counter() - started, 1),
    }
    json_out = out_dir / FIGURES_NAME
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    click.echo(f"grid: {grid}; figures: {json_out}; took {data['seconds']:.0f} s")
