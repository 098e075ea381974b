"""The RGBA autoencoder part: training writes checkpoints, previews, figures and a VAE folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pmg_engine.train.autoencoder import AutoencoderTask
from pmg_engine.train.data import load_images, load_items
from pmg_engine.train.loop import TrainOptions, train


def test_autoencoder_run_leaves_checkpoint_samples_and_vae(trained_autoencoder: Path) -> None:
    """A short run leaves a checkpoint, a preview grid, held-out figures and an RGBA VAE."""
    from diffusers import AutoencoderKL

    out = trained_autoencoder
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=False)["step"] == 2
    assert (out / "samples" / "step-0000002.png").exists()
    figures = json.loads((out / "eval.jsonl").read_text().splitlines()[-1])
    assert {"heldout_l1", "heldout_psnr", "heldout_alpha_l1"} <= set(figures)
    vae = AutoencoderKL.from_pretrained(str(out / "vae"))
    assert (vae.config.in_channels, vae.config.out_channels) == (4, 4)


def test_autoencoder_loss_falls(tmp_path: Path, corpus_dir: Path, cache_dir: Path) -> None:
    """Forty steps on the synthetic shapes lower the reconstruction loss."""
    task = AutoencoderTask(
        corpus_dir=corpus_dir, out_dir=tmp_path, cache_dir=cache_dir, preset="tiny"
    )
    options = TrainOptions(
        out_dir=tmp_path,
        max_steps=40,
        batch_size=4,
        lr=3e-3,
        warmup_steps=1,
        log_every=5,
        checkpoint_every=1000,
    )
    train(task, options)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "loss.jsonl").open()]
    assert losses[-1] < 0.8 * losses[0]


def test_transparent_pixels_are_black(corpus_dir: Path, cache_dir: Path) -> None:
    """Decoded training pixels carry no colour under full transparency."""
    images = load_images(corpus_dir, load_items(corpus_dir), size=64, cache_dir=cache_dir)
    clear = images[:, 3] == 0
    assert clear.any()
    assert int(images[:, :3].permute(1, 0, 2, 3)[:, clear].max()) == 0
