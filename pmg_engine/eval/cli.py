"""``pmg eval``: the figures of the offline model pack on the fixed evaluation set.

``models`` measures, ``compare`` sets two results side by side (only when they share the set,
the corpus and the settings), ``make-set`` draws a new set version from a corpus.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from pmg_engine.corpus.manifest import DEFAULT_CORPUS_DIR
from pmg_engine.eval.autoencoder_cli import autoencoder_command
from pmg_engine.eval.personalization_cli import personalization_command
from pmg_engine.eval.samples import DEFAULT_EVAL_DIR, DOCS_SAMPLES_DIR
from pmg_engine.eval.upscaler_cli import upscaler_command
from pmg_engine.guidance import BUILTIN_GUIDANCE_SCALE

if TYPE_CHECKING:
    from pmg_engine.corpus.manifest import CorpusItem
    from pmg_engine.eval._run import EvalSettings
    from pmg_engine.eval.evalset import EvalSet, RunIdentity
    from pmg_engine.generators import DiffusersGenerator
    from pmg_engine.generators.base import DeviceName
    from pmg_engine.models.scorer import MiniScorer
    from pmg_engine.reference import ReferenceIndex

_BUILTIN = "builtin"
GRID_NAME = "generator-grid.png"
FIGURES_NAME = "eval-models.json"
# The result of the pack the builtin generator replaced, measured in the same run as its own.
PREVIOUS_PACK_RESULT = "previous-pack-eval.json"


@click.group("eval")
def eval_group() -> None:
    """Measure the models."""


eval_group.add_command(autoencoder_command)
eval_group.add_command(personalization_command)
eval_group.add_command(upscaler_command)


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
@click.option(
    "--eval-set",
    "eval_set_path",
    default=_BUILTIN,
    show_default=True,
    help="Evaluation set JSON; builtin: the committed pmg_engine/eval/sets/heldout-v1.json.",
)
@click.option(
    "--prompts",
    type=click.IntRange(min=1),
    default=None,
    help="Use only the set's first N prompts (default: all; figures then match no other run).",
)
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--guidance-scale",
    type=click.FloatRange(min=0),
    default=BUILTIN_GUIDANCE_SCALE,
    show_default=True,
    help="Classifier-free guidance (the default is the builtin pack's, chosen on pmg-val).",
)
@click.option(
    "--strength",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.6,
    show_default=True,
    help="How far reference-guided generation departs from the reference (img2img).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**62),
    default=0,
    show_default=True,
    help="Added to each prompt's seed from the set (0: the set's own seeds).",
)
@click.option(
    "--grid",
    "grid_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_EVAL_DIR / GRID_NAME,
    show_default=True,
    help="Where to save the 8x8 grid of text-to-image samples.",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_EVAL_DIR / FIGURES_NAME,
    show_default=True,
    help="Where to save all figures, settings, timings and prompts as JSON.",
)
@click.option(
    "--docs",
    "to_docs",
    is_flag=True,
    help=f"Write the grid and the figures into {DOCS_SAMPLES_DIR}/ instead, to update the docs.",
)
@click.option(
    "--compare-to",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="An earlier result JSON: print each figure beside it (refused unless the set, the "
    "corpus and the settings are the same).",
)
@click.option(
    "--baseline",
    "baseline_path",
    default=None,
    help="A second generator folder (or builtin) to evaluate first in the same run, with the "
    "same set, corpus, scorer and settings; its figures are printed beside --generator's.",
)
@click.pass_context
def models(
    ctx: click.Context,
    generator_path: str,
    scorer_path: str,
    reference_path: str,
    corpus_dir: Path,
    eval_set_path: str,
    prompts: int | None,
    steps: int,
    guidance_scale: float,
    strength: float,
    batch_size: int,
    device: str,
    seed: int,
    grid_path: Path,
    json_out: Path,
    to_docs: bool,
    compare_to: Path | None,
    baseline_path: str | None,
) -> None:
    """Print the set, the corpus fingerprint, then each figure; save a sample grid and JSON."""
    from pmg_engine.eval._run import EvalSettings
    from pmg_engine.eval.evalset import run_identity

    started = time.perf_counter()
    # 1. Everything is checked before the slow parts load, each failure one sentence.
    if to_docs:
        explicit = [
            name
            for name in ("grid_path", "json_out")
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        ]
        if explicit:
            raise click.UsageError(
                "--docs sets where the grid and figures go; drop --grid/--json-out"
            )
        grid_path, json_out = DOCS_SAMPLES_DIR / GRID_NAME, DOCS_SAMPLES_DIR / FIGURES_NAME
    eval_set = _load_eval_set(eval_set_path)
    earlier = _read_result(compare_to) if compare_to is not None else None
    try:
        settings = EvalSettings(
            prompts=len(eval_set.prompts) if prompts is None else prompts,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            strength=strength,
            seed=seed,
            batch_size=batch_size,
            num_distractors=eval_set.num_distractors,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    folders = _resolve(generator_path, scorer_path, reference_path)
    _check_inputs(corpus_dir, *folders)
    baseline = None
    if baseline_path is not None:
        baseline = _resolve(baseline_path, scorer_path, reference_path)
        _check_inputs(corpus_dir, *baseline)
        if compare_to is not None:
            raise click.UsageError("--baseline and --compare-to both name what to compare with")
    # 2. Name the set and the corpus first: figures mean nothing without them.
    identity = run_identity(eval_set, corpus_dir)
    for line in identity.lines():
        click.echo(line)
    planned = {**identity.to_json(), "settings": asdict(settings)}
    if earlier is not None and compare_to is not None:
        # Refused now, not after minutes of generation: the figures could not be compared.
        _check_comparable(earlier, planned, compare_to, json_out)
    elif baseline is None and (generator_path, scorer_path, reference_path) == (_BUILTIN,) * 3:
        # The shipped pack is compared with the one it replaced, whose result ships beside it.
        earlier, compare_to = _previous_pack(planned)
    # 3. With a baseline, it runs first, through the same code, into files of its own.
    if baseline is not None:
        click.echo(f"baseline: {_shown(baseline[0])}")
        base_grid, base_json = _baseline_path(grid_path), _baseline_path(json_out)
        base_data = _evaluate(
            corpus_dir, baseline, eval_set, identity, settings, device, base_grid, base_json
        )
        click.echo(f"generator: {_shown(folders[0])}")
        earlier, compare_to = base_data, base_json
    # 4. Load the corpus and the models, evaluate, print and save.
    data = _evaluate(corpus_dir, folders, eval_set, identity, settings, device, grid_path, json_out)
    if earlier is not None and compare_to is not None:
        _echo_comparison(earlier, data, compare_to, json_out)
    if baseline is not None:
        click.echo(f"both took {time.perf_counter() - started:.0f} s")


def _previous_pack(planned: dict[str, Any]) -> tuple[dict[str, Any] | None, Path | None]:
    from pmg_engine.eval.evalset import NotComparableError, check_comparable
    from pmg_engine.runtime import BUILTIN_GENERATOR

    path = BUILTIN_GENERATOR / PREVIOUS_PACK_RESULT
    if not path.is_file():
        return None, None
    previous = _read_result(path)
    try:
        check_comparable(previous, planned)
    except NotComparableError as error:
        click.echo(f"not compared with the previous pack: {error}")
        return None, None
    return previous, Path(_shown(path))


def _baseline_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-baseline{path.suffix}")


def _evaluate(
    corpus_dir: Path,
    folders: tuple[Path, Path, Path],
    eval_set: EvalSet,
    identity: RunIdentity,
    settings: EvalSettings,
    device: str,
    grid_path: Path,
    json_out: Path,
) -> dict[str, Any]:
    """Evaluate one set of models: print the figures, save the grid and the result JSON."""
    from pmg_engine.eval._run import evaluate_models
    from pmg_engine.eval.evalset import EvalSetError

    started = time.perf_counter()
    loaded = _load(corpus_dir, *folders, device=device)
    # Progress goes to stderr so the figures alone go to stdout.
    try:
        report = evaluate_models(
            items=loaded.items,
            corpus_dir=corpus_dir,
            eval_set=eval_set,
            generator=loaded.generator,
            scorer=loaded.scorer,
            reference=loaded.reference,
            grid_path=grid_path,
            settings=settings,
            on_progress=lambda stage, done, total: click.echo(f"{stage} {done}/{total}", err=True),
        )
    except (ValueError, EvalSetError) as error:
        raise click.ClickException(str(error)) from error
    for line in report.lines():
        click.echo(line)
    report.timings["total"] = time.perf_counter() - started
    data = {**identity.to_json(), **report.to_json()}
    names = ("generator", "scorer", "reference")
    data["models"] = {name: _shown(folder) for name, folder in zip(names, folders, strict=True)}
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"grid: {grid_path}; figures: {json_out}; took {report.timings['total']:.0f} s")
    return data


@eval_group.command("compare")
@click.argument("first", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("second", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def compare(first: Path, second: Path) -> None:
    """Print the figures of two results side by side, if they are comparable at all."""
    _echo_comparison(_read_result(first), _read_result(second), first, second)


@eval_group.command("make-set")
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CORPUS_DIR,
    show_default=True,
    help="Corpus folder of `pmg data build` to draw the held-out renderings from.",
)
@click.option("--version", "set_version", type=click.IntRange(min=1), required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the set, e.g. pmg_engine/eval/sets/heldout-v2.json (never overwritten).",
)
@click.option("--prompts", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--distractors", type=click.IntRange(min=1), default=19, show_default=True)
@click.option(
    "--split",
    "splits",
    multiple=True,
    type=click.Choice(["style-heldout", "test", "val"]),
    help="Splits to draw prompts from [default: style-heldout and test, the benchmark]; "
    "val draws a set to tune settings on.",
)
@click.option(
    "--name",
    "set_name",
    default=None,
    help="The set's name [default: pmg-heldout, or pmg-val for --split val].",
)
def make_set(
    corpus_dir: Path,
    set_version: int,
    out: Path,
    prompts: int,
    distractors: int,
    splits: tuple[str, ...],
    set_name: str | None,
) -> None:
    """Draw a new evaluation set version from a corpus (review and commit it by hand)."""
    from pmg_engine.corpus import load_manifest
    from pmg_engine.corpus.fingerprint import corpus_fingerprint
    from pmg_engine.eval._prompts import make_eval_set
    from pmg_engine.eval.evalset import content_digest, write_eval_set

    if out.exists():
        raise click.ClickException(f"{out} exists; a set version is never rewritten, pick another")
    manifest = corpus_dir / "manifest.jsonl"
    if not manifest.is_file():
        raise click.ClickException(f"no corpus manifest at {manifest}: run `pmg data build`")
    items = load_manifest(manifest)
    try:
        data = make_eval_set(
            items,
            version=set_version,
            made_on_corpus=corpus_fingerprint(corpus_dir, items),
            prompts=prompts,
            num_distractors=distractors,
            **_set_choice(splits, set_name),
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    write_eval_set(out, data)
    click.echo(f"wrote {out}: version {set_version}, digest {content_digest(data)}")


def _set_choice(splits: tuple[str, ...], name: str | None) -> dict[str, Any]:
    from pmg_engine.eval._prompts import PROMPT_SPLITS
    from pmg_engine.eval.evalset import EVAL_SET_NAME

    chosen = splits or PROMPT_SPLITS
    if "val" in chosen and len(chosen) > 1:
        raise click.UsageError("a tuning set draws from val alone; benchmark splits stay apart")
    default = "pmg-val" if chosen == ("val",) else EVAL_SET_NAME
    return {"splits": chosen, "name": name or default}


def _load_eval_set(path: str) -> EvalSet:
    from pmg_engine.eval.evalset import DEFAULT_EVAL_SET, EvalSetError, load_eval_set

    try:
        return load_eval_set(DEFAULT_EVAL_SET if path == _BUILTIN else Path(path))
    except EvalSetError as error:
        raise click.ClickException(str(error)) from error


def _read_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot read the result {path}: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("figures"), dict):
        raise click.ClickException(f"{path} is not a result of `pmg eval models` (no figures)")
    return data


def _check_comparable(
    first: dict[str, Any], second: dict[str, Any], first_name: Path, second_name: Path
) -> None:
    from pmg_engine.eval.evalset import NotComparableError, check_comparable

    try:
        check_comparable(first, second)
    except NotComparableError as error:
        raise click.ClickException(f"{first_name} and {second_name}: {error}") from error


def _echo_comparison(
    first: dict[str, Any], second: dict[str, Any], first_name: Path, second_name: Path
) -> None:
    _check_comparable(first, second, first_name, second_name)
    click.echo(f"compared: {first_name} -> {second_name}")
    for name in sorted(set(first["figures"]) | set(second["figures"])):
        a, b = first["figures"].get(name), second["figures"].get(name)
        if a is None or b is None:
            click.echo(f"{name}: {a} -> {b}")
        else:
            click.echo(f"{name}: {a:.4f} -> {b:.4f} ({b - a:+.4f})")


def _shown(folder: Path) -> str:
    """Return ``folder`` relative to the working directory when inside it, so results travel."""
    try:
        return folder.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(folder)


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
