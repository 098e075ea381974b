"""Composition of ``pmg train implicit``: generator, LLM and users from settings and options."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import click

from pmg_engine.errors import PMGError
from pmg_engine.train.implicit import (
    ImplicitTask,
    TrainingTarget,
    TrainingUser,
    synthetic_training_users,
)

logger = logging.getLogger(__name__)

# Behaviour lines before a liked sticker that count as its history (the module reads at most
# its own max_lines of them, newest first).
HISTORY_WINDOW = 24


def build_implicit_task(
    ctx: click.Context,
    *,
    generator: str,
    llm_dir: Path | None,
    corpus_dir: Path,
    out_dir: Path,
    device: str,
    user_count: int,
    from_database: bool,
    prefix_tokens: int,
    tokens: int,
    max_history_tokens: int,
    negative_weight: float,
    seed: int,
    output_norm: float | str | None = None,
) -> ImplicitTask:
    """Load the frozen parts and the users, then build the task (one clear error otherwise)."""
    from pmg_engine.cli._runtime import get_settings
    from pmg_engine.generators import GeneratorSpec, load_generator
    from pmg_engine.implicit import HistoryLLM
    from pmg_engine.llm.local import SMOLLM2_FOLDER
    from pmg_engine.runtime import quiet_model_libraries, resolve_generator

    settings = get_settings(ctx)
    quiet_model_libraries()
    # 1. The frozen generator and LLM.
    spec = GeneratorSpec(
        model=resolve_generator(generator),
        device="cuda" if device == "cuda" else "cpu",
        dtype="float32",
        allow_download=settings.generator.allow_hub_download,
    )
    loaded = load_generator(spec)
    folder = llm_dir or settings.storage.models_dir / SMOLLM2_FOLDER
    try:
        llm = HistoryLLM.from_pretrained(folder, device=spec.device)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    # 2. The users: this deployment's own, or synthetic users from the corpus.
    if from_database:
        try:
            users = asyncio.run(database_users(settings, history_window=HISTORY_WINDOW))
        except PMGError as exc:
            raise click.ClickException(str(exc)) from exc
        if len(users) < 2:
            raise click.ClickException(
                f"the database has {len(users)} liked finished stickers with a history; "
                "training needs more (users 👍 stickers with learning on)"
            )
        # Hold out every tenth example for the validation figures.
        val_users = users[::10]
        train_users = [u for i, u in enumerate(users) if i % 10]
    else:
        from pmg_engine.implicit.users import build_users
        from pmg_engine.train.data import load_items

        try:
            items = load_items(corpus_dir, ("train", "style-heldout", "val", "test"))
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        synthetic = build_users(items, count=user_count, seed=0, splits=("train", "val"))
        train_users = synthetic_training_users(
            corpus_dir, [u for u in synthetic if u.split == "train"]
        )
        val_users = synthetic_training_users(corpus_dir, [u for u in synthetic if u.split == "val"])
    return ImplicitTask(
        generator=loaded,
        llm=llm,
        users=train_users,
        val_users=val_users,
        llm_name=Path(folder).name,
        out_dir=out_dir,
        num_prefix_tokens=prefix_tokens,
        num_tokens=tokens,
        negative_weight=negative_weight,
        max_history_tokens=max_history_tokens,
        output_norm=output_norm,
        seed=seed,
    )


async def database_users(settings: Any, *, history_window: int) -> list[TrainingUser]:
    """Return one training example per liked, finished sticker whose file still exists."""
    from PIL import Image

    from pmg_engine.cli._runtime import open_database
    from pmg_engine.db import repo

    async with open_database(settings) as database, database.sessions() as session:
        examples = await repo.liked_examples(session=session, history_window=history_window)
    users = []
    for example in examples:
        path = settings.storage.outputs_dir / example.output_key
        if not path.is_file() or not example.history:
            continue
        with Image.open(path) as image:
            picture = image.convert("RGBA")
        users.append(
            TrainingUser(
                user=str(example.user_id),
                history=tuple(example.history),
                targets=(TrainingTarget(text=example.target_text, image=picture),),
            )
        )
    logger.info("%d training examples from the database", len(users))
    return users


def refit_probe(
    ctx: click.Context, *, module_dir: Path, llm_dir: Path | None, corpus_dir: Path, user_count: int
) -> dict[str, float]:
    """Fit the style probe of ``module_dir`` on synthetic train users; report val accuracy."""
    from tqdm.auto import tqdm

    from pmg_engine.cli._runtime import get_settings
    from pmg_engine.implicit import SoftPromptEmbedder, fit_style_probe
    from pmg_engine.implicit._probe import calibrate_probe, probe_accuracy, probe_nll
    from pmg_engine.implicit.users import build_users
    from pmg_engine.llm.local import SMOLLM2_FOLDER
    from pmg_engine.train.data import load_items

    settings = get_settings(ctx)
    folder = llm_dir or settings.storage.models_dir / SMOLLM2_FOLDER
    try:
        embedder = SoftPromptEmbedder.load(module_dir, llm_dir=folder)
        items = load_items(corpus_dir, ("train", "style-heldout", "val", "test"))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    users = build_users(items, count=user_count, seed=0, splits=("train", "val"))
    tokens = [embedder.embed(u.history) for u in tqdm(users, desc="tokens", unit="user")]
    train = [i for i, u in enumerate(users) if u.split == "train"]
    val = [i for i, u in enumerate(users) if u.split == "val"]
    styles = sorted({s for u in users for s in u.styles})
    probe = fit_style_probe(
        [tokens[i] for i in train], [users[i].styles for i in train], all_styles=styles
    )
    val_tokens, val_styles = [tokens[i] for i in val], [users[i].styles for i in val]
    figures = {
        "probe_train_accuracy": probe_accuracy(
            probe, [tokens[i] for i in train], [users[i].styles for i in train]
        ),
        "probe_val_accuracy": probe_accuracy(probe, val_tokens, val_styles),
    }
    if val:
        figures["probe_val_nll_uncalibrated"] = probe_nll(probe, val_tokens, val_styles)
        probe = calibrate_probe(probe, val_tokens, val_styles)
        figures["probe_val_nll"] = probe_nll(probe, val_tokens, val_styles)
        figures["probe_temperature"] = probe.temperature
    probe.save(module_dir, figures=figures)
    return figures
