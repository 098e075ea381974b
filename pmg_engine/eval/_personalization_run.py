"""Composition of ``pmg eval personalization``: models, users, the run and its files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click

from pmg_engine.eval.personalization import (
    METHODS,
    EvalOptions,
    PersonalizationReport,
    evaluate_personalization,
    file_users,
    synthetic_eval_users,
)
from pmg_engine.eval.personalization_cli import DOCS_OUT, QUICK_USERS

GRID_USERS = 8


def run(ctx: click.Context, **kw: Any) -> PersonalizationReport:
    """Load everything (one sentence per failure), evaluate, write the files."""
    import torch

    from pmg_engine.cli._runtime import get_settings
    from pmg_engine.errors import PMGError
    from pmg_engine.generators import GeneratorSpec, load_generator
    from pmg_engine.implicit import PooledEncoderEmbedder, SoftPromptEmbedder
    from pmg_engine.keywords import PreferenceKeywordExtractor
    from pmg_engine.keywords.merge import MiniLMPhraseEncoder, SynonymMerger
    from pmg_engine.llm.local import SMOLLM2_FOLDER
    from pmg_engine.models.scorer import load_scorer
    from pmg_engine.runtime import (
        BUILTIN_IMPLICIT,
        BUILTIN_SCORER,
        quiet_model_libraries,
        resolve_generator,
    )

    settings = get_settings(ctx)
    if kw["threads"]:
        torch.set_num_threads(kw["threads"])
    quiet_model_libraries()
    llm_dir = kw["llm_dir"] or settings.storage.models_dir / SMOLLM2_FOLDER
    # 1. Users first: a bad file is one sentence before any model loads.
    count = kw["count"] or (QUICK_USERS if kw["quick"] else None)
    try:
        if kw["users_file"] is not None:
            users = file_users(kw["users_file"], kw["corpus_dir"])[: count or None]
        else:
            users = synthetic_eval_users(kw["corpus_dir"], count=count or 10_000, split=kw["split"])
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    # 2. The models: generator, scorer, both embedders, the keyword extractor.
    try:
        generator = load_generator(
            GeneratorSpec(model=resolve_generator(kw["generator"]), device="cpu", dtype="float32")
        )
        scorer_dir = BUILTIN_SCORER if kw["scorer"] == "builtin" else Path(kw["scorer"])
        scorer = load_scorer(scorer_dir)
    except (PMGError, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    pooled = PooledEncoderEmbedder(generator.text_encoder)
    implicit_dir = BUILTIN_IMPLICIT if kw["implicit"] == "builtin" else Path(kw["implicit"])
    trained: SoftPromptEmbedder | None
    try:
        trained = SoftPromptEmbedder.load(implicit_dir, llm_dir=llm_dir)
    except (FileNotFoundError, ValueError) as exc:
        click.echo(f"note: {exc}", err=True)
        trained = None
    llm = None
    if kw["keywords_llm"]:
        from pmg_engine.llm import build_chat_model

        llm = build_chat_model(settings.llm, models_dir=settings.storage.models_dir)
    # The product's extractor: the same blocklist and synonym merge as the runtime's.
    keywords = PreferenceKeywordExtractor(
        llm,
        num_keywords=settings.llm.num_keywords,
        blocked_terms=settings.discord.prompt_blocklist,
        merger=SynonymMerger(MiniLMPhraseEncoder()),
    )
    # 3. The run, progress on stderr so stdout holds the figures alone.
    options = EvalOptions(
        num_inference_steps=kw["steps"],
        guidance_scale=kw["guidance_scale"],
        personalization_weight=kw["weight"],
        batch_size=kw["batch_size"],
        sweep=kw["sweep"],
    )
    report = evaluate_personalization(
        users,
        generator=generator,
        scorer=scorer,
        keywords=keywords,
        pooled=pooled,
        trained=trained,
        options=options,
        methods=METHODS,
        on_progress=lambda stage, done, total: click.echo(f"{stage} {done}/{total}", err=True),
    )
    source = f"from {kw['users_file']}" if kw["users_file"] else f"{kw['split']} split, synthetic"
    report.notes.append(
        f"users: {len(users)} ({source}); "
        f"keywords: {'local LLM chain' if llm is not None else 'word fallback (no LLM)'}; "
        f"steps {kw['steps']}, guidance {options.guidance_scale}, weight {kw['weight']:.3f}"
    )
    # The synthetic users are a function of the corpus: the fingerprint says which one.
    from pmg_engine.corpus.fingerprint import corpus_fingerprint

    report.notes.append(f"corpus fingerprint: {corpus_fingerprint(kw['corpus_dir'])}")
    _write(report, kw["out"], users=[u.user for u in users])
    if kw["docs"]:
        DOCS_OUT.mkdir(parents=True, exist_ok=True)
        for name in ("personalization.md", "personalization-sweep.png", "personalization-grid.png"):
            source = kw["out"] / name
            if source.exists():
                shutil.copyfile(source, DOCS_OUT / name)
    return report


def _write(report: PersonalizationReport, out: Path, *, users: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "personalization.md").write_text(
        report.markdown() + "\n\n" + "\n".join(f"- {n}" for n in report.notes) + "\n",
        encoding="utf-8",
    )
    data = report.to_json()
    data["user_ids"] = users
    (out / "figures.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    report.write_csv(out / "figures.csv")
    if report.sweep:
        report.plot(out / "personalization-sweep.png")
    _grid(report, out / "personalization-grid.png")


def _grid(report: PersonalizationReport, path: Path) -> None:
    """Save the first users' pictures, one row per user, one column per method."""
    from PIL import Image

    methods = [m for m in METHODS if m in report.images]
    if not methods:
        return
    rows = min(GRID_USERS, len(report.images[methods[0]]))
    cell = 64
    sheet = Image.new("RGBA", (cell * len(methods), cell * rows), (255, 255, 255, 255))
    for column, method in enumerate(methods):
        for row in range(rows):
            image = report.images[method][row].convert("RGBA").resize((cell, cell))
            sheet.alpha_composite(image, (column * cell, row * cell))
    sheet.save(path)
