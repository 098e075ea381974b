"""``pmg eval models``: the figures of the offline model pack (issue 6, Evaluate)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.eval.personalization_cli import personalization_command

if TYPE_CHECKING:
    from pmg_engine.corpus.manifest import CorpusItem
    from pmg_engine.generators import DiffusersGenerator
    from pmg_engine.generators.base import DeviceName
    from pmg_engine.models.scorer import MiniScorer
    from pmg_engine.reference import ReferenceIndex

_BUILTIN = "builtin"


@click.group("eval")
def eval_group() -> None:
    """Measure the models."""


eval_group.add_command(personalization_command)


@eval_group.command("models")
@click.option(
    "--generator",
    "generator_path",
    default=_BUILTIN,
    show_default=True,
    help="Generator folder (diffusers layout); builtin: pmg_engine/assets/generator.",
)
@click.option(
    "--scorer",
    "scorer_path",
    default=_BUILTIN,
    show_default=True,
    help="Mini scorer folder; builtin: pmg_engine/assets/scorer.",
)
@click.option(
    "--reference",
    "reference_path",
    default=_BUILTIN,
    show_default=True,
    help="Reference index folder; builtin: pmg_engine/assets/reference-index.",
)
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
    help="Corpus folder of `pmg data build` (its held-out renderings are evaluated).",
)
@click.option("--prompts", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--guidance-scale", type=click.FloatRange(min=0), default=5.0, show_default=True)
@click.option(
    "--strength",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.6,
    show_default=True,
    help="How far reference-guided generation departs from the reference (img2img).",
)
@click.option("--distractors", type=click.IntRange(min=1), default=19, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
)
@click.option("--seed", type=click.IntRange(0, 2**62), default=0, show_default=True)
@click.option(
    "--grid",
    "grid_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/samples/generator-grid.png"),
    show_default=True,
    help="Where to save the 8x8 grid of text-to-image samples.",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/samples/eval-models.json"),
    show_default=True,
    help="Where to save all figures, settings, timings and prompts as JSON.",
)
def models(
    generator_path: str,
    scorer_path: str,
    reference_path: str,
    corpus_dir: Path,
    prompts: int,
    steps: int,
    guidance_scale: float,
    strength: float,
    distractors: int,
    batch_size: int,
    device: str,
    seed: int,
    grid_path: Path,
    json_out: Path,
) -> None:
    """Print the scorer's and the generator's figures, one per line; save a sample grid."""
    from pmg_engine.eval._run import EvalSettings, evaluate_models

    started = time.perf_counter()
    try:
        settings = EvalSettings(
            prompts=prompts,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            strength=strength,
            seed=seed,
            batch_size=batch_size,
            num_distractors=distractors,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    # 1. Everything is checked before the slow parts load, each failure one sentence.
    folders = _resolve(generator_path, scorer_path, reference_path)
    _check_inputs(corpus_dir, *folders)
    # 2. Load the corpus and the models once.
    loaded = _load(corpus_dir, *folders, device=device)
    # 3. Evaluate, printing progress on stderr so the figures alone go to stdout.
    try:
        report = evaluate_models(
            items=loaded.items,
            corpus_dir=corpus_dir,
            generator=loaded.generator,
            scorer=loaded.scorer,
            reference=loaded.reference,
            grid_path=grid_path,
            settings=settings,
            on_progress=lambda stage, done, total: click.echo(f"{stage} {done}/{total}", err=True),
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    for line in report.lines():
        click.echo(line)
    report.timings["total"] = time.perf_counter() - started
    data = report.to_json()
    data["models"] = {"generator": str(folders[0]), "scorer": str(folders[1])}
    data["models"]["reference"] = str(folders[2])
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"grid: {grid_path}; figures: {json_out}; took {report.timings['total']:.0f} s")


def _resolve(generator: str, scorer: str, reference: str) -> tuple[Path, Path, Path]:
    from pmg_engine.runtime import ASSETS, BUILTIN_GENERATOR, BUILTIN_SCORER

    return (
        BUILTIN_GENERATOR if generator == _BUILTIN else Path(generator),
        BUILTIN_SCORER if scorer == _BUILTIN else Path(scorer),
        ASSETS / "reference-index" if reference == _BUILTIN else Path(reference),
    )


def _check_inputs(corpus_dir: Path, generator: Path, scorer: Path, reference: Path) -> None:
    checks = (
        (corpus_dir / "manifest.jsonl", "corpus manifest", "run `pmg data build` or pass --corpus"),
        (generator / "model_index.json", "generator", "train and export one, or pass --generator"),
        (scorer / "config.json", "scorer", "train and export one, or pass --scorer"),
        (reference / "index.json", "reference index", "run `pmg data reference-index`"),
    )
    for path, what, fix in checks:
        if not path.is_file():
            raise click.ClickException(f"no {what} at {path.parent} (missing {path.name}): {fix}")


@dataclass(frozen=True)
class _Loaded:
    items: list[CorpusItem]
    generator: DiffusersGenerator
    scorer: MiniScorer
    reference: ReferenceIndex


def _load(
    corpus_dir: Path, generator: Path, scorer: Path, reference: Path, *, device: str
) -> _Loaded:
    from pmg_engine.corpus import load_manifest
    from pmg_engine.errors import PMGError
    from pmg_engine.generators import GeneratorSpec, load_generator, resolve_device
    from pmg_engine.models.scorer import load_scorer
    from pmg_engine.reference import ReferenceIndex
    from pmg_engine.runtime import quiet_model_libraries

    quiet_model_libraries()
    try:
        spec = GeneratorSpec(model=str(generator), device=cast("DeviceName", device))
        return _Loaded(
            items=load_manifest(corpus_dir / "manifest.jsonl"),
            generator=load_generator(spec),
            scorer=load_scorer(scorer, device=resolve_device(spec.device)),
            reference=ReferenceIndex.load(reference),
        )
    except (PMGError, OSError) as error:
        raise click.ClickException(str(error).splitlines()[0]) from error
