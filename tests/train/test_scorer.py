"""The mini scorer: contrastive training, held-out figures, and the engine-facing loader."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pmg_engine.models.minilm import MiniLM
from pmg_engine.models.scorer import load_scorer, load_scorer_model, save_scorer
from pmg_engine.train.loop import TrainOptions, train
from pmg_engine.train.scorer import ScorerTask

from .conftest import COLOURS, draw_shape


def test_scorer_never_trains_on_held_out_styles(
    corpus_dir: Path, cache_dir: Path, tmp_path: Path, minilm_loader: Callable[[], MiniLM]
) -> None:
    """Training items are the train split only; style-heldout ones are kept for evaluation."""
    task = ScorerTask(
        corpus_dir=corpus_dir,
        out_dir=tmp_path,
        cache_dir=cache_dir,
        preset="tiny",
        text_encoder=minilm_loader,
    )
    assert {item.split for item in task.items} == {"train"}
    assert {item.split for item in task.held_out} == {"style-heldout"}


def test_scorer_ranks_matching_colour_first(
    corpus_dir: Path, cache_dir: Path, tmp_path: Path, minilm: MiniLM
) -> None:
    """After a short training, each coloured square scores its own colour's caption highest."""
    task = ScorerTask(
        corpus_dir=corpus_dir,
        out_dir=tmp_path,
        cache_dir=cache_dir,
        preset="small",
        text_encoder=lambda: minilm,
    )
    options = TrainOptions(
        out_dir=tmp_path,
        max_steps=60,
        batch_size=16,
        lr=2e-3,
        warmup_steps=5,
        checkpoint_every=1000,
        ema_decay=0.9,
    )
    train(task, options)
    scorer = load_scorer(tmp_path / "model", text_encoder=minilm)
    images = [draw_shape("square", colour, "flat", 64) for colour in COLOURS]
    texts = [f"{colour} square" for colour in COLOURS]
    sims = scorer.image_text_similarity(images, texts)
    assert sims.shape == (len(COLOURS), len(COLOURS))
    assert np.all(np.abs(sims) <= 1.0 + 1e-5)
    assert (sims.argmax(axis=1) == np.arange(len(COLOURS))).sum() >= 3
    figures = json.loads((tmp_path / "model" / "training.json").read_text())
    assert {"heldout_styled_top1", "heldout_style_accuracy", "steps"} <= set(figures)


def test_saved_scorer_round_trips(trained_scorer: Path, tmp_path: Path, minilm: MiniLM) -> None:
    """A saved scorer reloads with the same embeddings (fp16 storage) and names its styles."""
    model = load_scorer_model(trained_scorer / "model")
    save_scorer(model, tmp_path, half=False)
    scorer = load_scorer(tmp_path, text_encoder=minilm)
    images = [draw_shape("circle", "red", "outlined", 64), draw_shape("square", "blue", "flat", 48)]
    direct = model(torch.zeros(1, 3, 64, 64))[0]
    torch.testing.assert_close(scorer.model(torch.zeros(1, 3, 64, 64))[0], direct)
    assert scorer.score(images, ["red circle"]).shape == (2, 1)
    assert set(scorer.classify_styles(images)) <= {"flat", "outlined"}
    assert scorer.model_id == "pmg-mini-scorer"
