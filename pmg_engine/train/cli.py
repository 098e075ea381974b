"""``pmg train``: train the offline model pack's parts, resumably, on CPU or CUDA.

The main CLI registers ``train_group``; ``python -m pmg_engine.train.cli`` runs it alone (the
background script uses that). Each command is a composition root: it configures logging and
threads, builds its task, and hands it to the shared loop.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.corpus.packages import DEFAULT_CACHE_DIR

if TYPE_CHECKING:
    # The loop imports torch; ``pmg --help`` must not pay for that (DESIGN.md §6: 6-11 s).
    from pmg_engine.train.loop import TrainOptions, TrainResult

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("data/train")
# Per part: batch size, learning rate, warm-up, EMA decay, weight decay, checkpoint interval.
PART_DEFAULTS: dict[str, dict[str, Any]] = {
    "autoencoder": {
        "batch_size": 32,
        "lr": 5e-4,
        "warmup_steps": 200,
        "ema_decay": 0.999,
        "weight_decay": 0.0,
        "checkpoint_every": 500,
    },
    "generator": {
        "batch_size": 64,
        "lr": 3e-4,
        "warmup_steps": 500,
        "ema_decay": 0.9995,
        "weight_decay": 0.0,
        "checkpoint_every": 1000,
    },
    "scorer": {
        "batch_size": 128,
        "lr": 1e-3,
        "warmup_steps": 200,
        "ema_decay": 0.999,
        "weight_decay": 0.05,
        "checkpoint_every": 500,
    },
    # The soft-prompt module: a few hundred thousand parameters on a frozen LLM and generator
    # (PAPER.md §3.2 trains with lr 5e-6 on a 7B model; this small module needs far more).
    "implicit": {
        "batch_size": 16,
        "lr": 1e-3,
        "warmup_steps": 100,
        "ema_decay": 0.995,
        "weight_decay": 0.01,
        "checkpoint_every": 200,
    },
    # The sticker upscaler: ~60 k parameters on 32 px crops, a small-network learning rate.
    "upscaler": {
        "batch_size": 16,
        "lr": 1e-3,
        "warmup_steps": 100,
        "ema_decay": 0.999,
        "weight_decay": 0.0,
        "checkpoint_every": 250,
    },
}


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--corpus",
            type=click.Path(path_type=Path),
            default=DEFAULT_CORPUS_DIR,
            show_default=True,
            help="Corpus folder with manifest.jsonl.",
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            default=None,
            help="Output folder [default: data/train/<part>].",
        ),
        click.option(
            "--cache",
            type=click.Path(path_type=Path),
            default=DEFAULT_ROOT / "cache",
            show_default=True,
            help="Where decoded images, latents and MiniLM outputs are cached.",
        ),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda"]),
            default="auto",
            show_default=True,
        ),
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
            default="auto",
            show_default=True,
            help="Autocast precision; auto is bf16 on CUDA and fp32 on CPU.",
        ),
        click.option("--minutes", type=float, default=None, help="Wall-clock budget of this run."),
        click.option(
            "--max-steps",
            type=int,
            default=None,
            help="Stop at this total step count (counted across resumed runs).",
        ),
        click.option("--batch-size", type=int, default=None),
        click.option("--lr", type=float, default=None, help="Peak learning rate."),
        click.option(
            "--warmup-steps", type=click.IntRange(min=0), default=None, help="Linear warm-up."
        ),
        click.option(
            "--ema-decay",
            type=click.FloatRange(0, 1, max_open=True),
            default=None,
            help="EMA decay of the exported weights (a short fine-tune wants a shorter one).",
        ),
        click.option(
            "--checkpoint-every", type=int, default=None, help="Steps between checkpoints."
        ),
        click.option(
            "--preset",
            type=click.Choice(["small", "tiny"]),
            default="small",
            show_default=True,
            help="Model size (tiny is for tests).",
        ),
        click.option(
            "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)."
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--resume/--no-resume",
            default=True,
            show_default=True,
            help="Continue from the last checkpoint in --out.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(part: str, kw: dict[str, Any]) -> TrainOptions:
    import torch

    from pmg_engine.train.loop import TrainOptions

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
    )
    if kw["threads"]:
        torch.set_num_threads(kw["threads"])
    if kw["minutes"] is None and kw["max_steps"] is None:
        raise click.UsageError("give --minutes or --max-steps (or both)")
    defaults = PART_DEFAULTS[part]
    return TrainOptions(
        out_dir=kw["out"] or DEFAULT_ROOT / part,
        device=kw["device"],
        precision=kw["precision"],
        minutes=kw["minutes"],
        max_steps=kw["max_steps"],
        batch_size=kw["batch_size"] or defaults["batch_size"],
        lr=kw["lr"] or defaults["lr"],
        checkpoint_every=kw["checkpoint_every"] or defaults["checkpoint_every"],
        warmup_steps=(
            defaults["warmup_steps"] if kw["warmup_steps"] is None else kw["warmup_steps"]
        ),
        ema_decay=kw["ema_decay"] or defaults["ema_decay"],
        weight_decay=defaults["weight_decay"],
        resume=kw["resume"],
        seed=kw["seed"],
        progress=kw.get("progress", False),
    )


def _report(part: str, result: TrainResult) -> None:
    loss = "n/a" if result.last_loss is None else f"{result.last_loss:.5f}"
    click.echo(
        f"{part}: step {result.step} (+{result.steps_this_run} in {result.seconds / 60:.1f} min), "
        f"last loss {loss}, stopped by {result.stopped_by}; checkpoint {result.checkpoint}"
    )


@click.group("train")
def train_group() -> None:
    """Train the offline generator (autoencoder, then UNet), the mini scorer and the upscaler."""


@train_group.command("autoencoder")
@_common
@click.option(
    "--init-from",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Start from this trained autoencoder folder (diffusers layout).",
)
@click.option(
    "--decoder-only",
    is_flag=True,
    help="Train the decoder alone (needs --init-from): latents keep their meaning, so a "
    "UNet trained on them stays valid.",
)
def autoencoder_command(init_from: Path | None, decoder_only: bool, **kw: Any) -> None:
    """Train the RGBA autoencoder; writes <out>/vae when it stops."""
    from pmg_engine.train.autoencoder import AutoencoderTask
    from pmg_engine.train.loop import train

    options = _options("autoencoder", kw)
    task = AutoencoderTask(
        corpus_dir=kw["corpus"],
        out_dir=options.out_dir,
        cache_dir=kw["cache"],
        preset=kw["preset"],
        seed=kw["seed"],
        init_from=init_from,
        decoder_only=decoder_only,
    )
    _report("autoencoder", train(task, options))


@train_group.command("generator")
@_common
@click.option(
    "--vae",
    type=click.Path(path_type=Path),
    default=DEFAULT_ROOT / "autoencoder/vae",
    show_default=True,
    help="Trained autoencoder (copied into <out>/vae on first run).",
)
@click.option(
    "--init-from",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Start from this trained UNet (a pipeline folder or its unet/): fine-tune onto a "
    "retrained autoencoder's latents.",
)
def generator_command(vae: Path, init_from: Path | None, **kw: Any) -> None:
    """Train the UNet on cached latents; writes <out>/pipeline (fp16) when it stops."""
    from pmg_engine.train.generator import GeneratorTask
    from pmg_engine.train.loop import train

    options = _options("generator", kw)
    task = GeneratorTask(
        corpus_dir=kw["corpus"],
        out_dir=options.out_dir,
        vae_dir=vae,
        cache_dir=kw["cache"],
        preset=kw["preset"],
        seed=kw["seed"],
        init_from=init_from,
    )
    _report("generator", train(task, options))


@train_group.command("scorer")
@_common
def scorer_command(**kw: Any) -> None:
    """Train the mini scorer; writes <out>/model when it stops."""
    from pmg_engine.train.loop import train
    from pmg_engine.train.scorer import ScorerTask

    options = _options("scorer", kw)
    task = ScorerTask(
        corpus_dir=kw["corpus"],
        out_dir=options.out_dir,
        cache_dir=kw["cache"],
        preset=kw["preset"],
        seed=kw["seed"],
    )
    _report("scorer", train(task, options))


@train_group.command("implicit")
@_common
@click.option(
    "--generator",
    default="builtin",
    show_default=True,
    help="The frozen generator: builtin, or any diffusers Stable Diffusion folder.",
)
@click.option(
    "--llm",
    "llm_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="A local transformers causal LM folder [default: the prepared SmolLM2].",
)
@click.option(
    "--users",
    "user_count",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Synthetic user ids to draw (80 % train, 10 % val, 10 % test).",
)
@click.option(
    "--from-database",
    is_flag=True,
    help="Train on this deployment's own users: each 👍 on a finished sticker is a target, "
    "the behaviour before it the history.",
)
@click.option("--prefix-tokens", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--tokens", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--max-history-tokens", type=click.IntRange(min=16), default=160, show_default=True)
@click.option(
    "--negative-weight",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
    help="Weight of the paper's negative-item term (0: off).",
)
@click.option(
    "--output-norm",
    default="auto",
    show_default=True,
    help="Rescale each soft token to this norm: a number, auto (the median norm of the "
    "generator's own text tokens) or off.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_context
def implicit_command(
    ctx: click.Context,
    /,
    generator: str,
    llm_dir: Path | None,
    user_count: int,
    from_database: bool,
    prefix_tokens: int,
    tokens: int,
    max_history_tokens: int,
    negative_weight: float,
    output_norm: str,
    **kw: Any,
) -> None:
    """Train the soft-prompt module on the frozen generator; writes <out>/module when it stops.

    The export is the checkpoint with the lowest val loss (kept in <out>/best), not the last.
    """
    from pmg_engine.train.implicit_run import build_implicit_task
    from pmg_engine.train.loop import train

    options = _options("implicit", kw)
    task = build_implicit_task(
        ctx,
        generator=generator,
        llm_dir=llm_dir,
        corpus_dir=kw["corpus"],
        out_dir=options.out_dir,
        device=options.device,
        user_count=user_count,
        from_database=from_database,
        prefix_tokens=prefix_tokens,
        tokens=tokens,
        max_history_tokens=max_history_tokens,
        negative_weight=negative_weight,
        output_norm=_norm_choice(output_norm),
        seed=kw["seed"],
    )
    _report("implicit", train(task, options))


@train_group.command("upscaler")
@_common
@click.option(
    "--pairs",
    "pairs_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A pairs .npz to train on [default: rendered once from the corpus's sources into --out].",
)
@click.option(
    "--sources",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_CACHE_DIR,
    show_default=True,
    help="The npm packages `pmg data build` fetched (the vector sources the pairs are drawn from).",
)
@click.option("--train-pairs", type=click.IntRange(min=1), default=None, help="[default: 2000]")
@click.option("--heldout-pairs", type=click.IntRange(min=1), default=None, help="[default: 200]")
@click.option("--progress/--no-progress", default=False, show_default=True)
def upscaler_command(
    pairs_path: Path | None,
    sources: Path,
    train_pairs: int | None,
    heldout_pairs: int | None,
    **kw: Any,
) -> None:
    """Train the 64 -> 256 px sticker upscaler; writes <out>/model when it stops."""
    from pmg_engine.train.loop import train
    from pmg_engine.train.upscaler import UpscalerTask
    from pmg_engine.train.upscaler_pairs import (
        DEFAULT_HELDOUT_PAIRS,
        DEFAULT_TRAIN_PAIRS,
        Pairs,
        corpus_pairs,
    )

    options = _options("upscaler", kw)
    if pairs_path is not None:
        pairs = Pairs.load(pairs_path)
    else:
        try:
            pairs, pairs_path = corpus_pairs(
                corpus_dir=kw["corpus"],
                sources_cache=sources,
                out_dir=options.out_dir,
                train_pairs=train_pairs or DEFAULT_TRAIN_PAIRS,
                heldout_pairs=heldout_pairs or DEFAULT_HELDOUT_PAIRS,
                progress=_pair_bar if kw["progress"] else None,
            )
        except (FileNotFoundError, ValueError) as error:
            raise click.ClickException(str(error)) from error
    task = UpscalerTask(
        pairs=pairs,
        out_dir=options.out_dir,
        pairs_file=pairs_path.name,
        preset=kw["preset"],
        seed=kw["seed"],
    )
    _report("upscaler", train(task, options))


def _pair_bar(masters: Any, total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(masters, total=total, desc=desc, unit="pair", dynamic_ncols=True)


def _norm_choice(value: str) -> float | str | None:
    if value in ("auto", "off"):
        return None if value == "off" else "auto"
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise click.BadParameter(f"expected a positive number, auto or off, got {value!r}")
    return number


@train_group.command("implicit-probe")
@click.option(
    "--module",
    "module_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=DEFAULT_ROOT / "implicit" / "module",
    show_default=True,
)
@click.option("--llm", "llm_dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS_DIR, show_default=True
)
@click.option("--users", "user_count", type=click.IntRange(min=10), default=400, show_default=True)
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
@click.pass_context
def implicit_probe_command(
    ctx: click.Context,
    /,
    module_dir: Path,
    llm_dir: Path | None,
    corpus: Path,
    user_count: int,
    threads: int,
) -> None:
    """Fit (again) the style probe of a trained module on synthetic users' tokens."""
    import torch

    from pmg_engine.train.implicit_run import refit_probe

    if threads:
        torch.set_num_threads(threads)
    figures = refit_probe(
        ctx, module_dir=module_dir, llm_dir=llm_dir, corpus_dir=corpus, user_count=user_count
    )
    click.echo(" ".join(f"{k} {v:.3f}" for k, v in figures.items()))


@train_group.command("export")
@click.option(
    "--generator",
    "generator_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_ROOT / "generator",
    show_default=True,
)
@click.option(
    "--scorer",
    "scorer_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_ROOT / "scorer",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_ROOT / "export",
    show_default=True,
    help="Writes <out>/generator and <out>/scorer.",
)
def export_command(generator_dir: Path, scorer_dir: Path, out: Path) -> None:
    """Export the EMA weights of the latest checkpoints in fp16 (the shipped model pack)."""
    from pmg_engine.train.ship import SIZE_LIMIT_BYTES, ship

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
    )
    shipped = ship(
        generator_dir=generator_dir if generator_dir.exists() else None,
        scorer_dir=scorer_dir if scorer_dir.exists() else None,
        out_dir=out,
    )
    click.echo(f"exported {shipped.steps} into {out}: {shipped.total_bytes / 2**20:.1f} MiB")
    if shipped.total_bytes > SIZE_LIMIT_BYTES:
        raise click.ClickException(
            f"the pack is {shipped.total_bytes / 2**20:.1f} MiB, over the 40 MiB limit"
        )


@train_group.command("pack")
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
    help="Corpus folder with manifest.jsonl.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write (replaced): corpus/ and minilm/.",
)
def pack_command(corpus: Path, out: Path) -> None:
    """Pack the 64 px corpus and a cut-down MiniLM to carry to a GPU machine (see travel.py)."""
    from pmg_engine.train.travel import pack

    summary = pack(corpus, out)
    click.echo(
        f"packed {summary.items} renderings and MiniLM with {summary.kept_word_pieces} of "
        f"{summary.vocab_size} word pieces ({summary.texts} texts) into {out}: "
        f"{summary.total_bytes / 2**20:.1f} MiB"
    )


@train_group.command("unpack")
@click.option("--pack", "pack_dir", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
def unpack_command(pack_dir: Path, out: Path) -> None:
    """Rebuild the corpus and MiniLM folders of a pack; prints the MiniLM folder."""
    from pmg_engine.train.travel import unpack

    corpus, minilm = unpack(pack_dir, out)
    click.echo(f"corpus {corpus}\nminilm {minilm}")


@train_group.command("slim")
@click.option("--part", "part_dir", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
def slim_command(part_dir: Path, out: Path) -> None:
    """Copy a part's folder with its checkpoint cut to fp16 EMA weights (export reads it)."""
    from pmg_engine.train.ship import slim_part

    target = slim_part(part_dir, out)
    click.echo(f"{target}: {target.stat().st_size / 2**20:.1f} MiB")


def main() -> None:
    """Run ``train_group`` on its own (``python -m pmg_engine.train.cli``)."""
    train_group(prog_name="pmg train")


if __name__ == "__main__":
    main()
