"""The RGBA autoencoder part: training writes checkpoints, previews, figures and a VAE folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def test_decoder_only_keeps_the_encoder_side(
    tmp_path: Path, corpus_dir: Path, cache_dir: Path, trained_autoencoder: Path
) -> None:
    """Fine-tuning the decoder leaves encoder and quant_conv bit-identical, so latents keep."""
    from diffusers import AutoencoderKL

    before = AutoencoderKL.from_pretrained(str(trained_autoencoder / "vae"))
    task = AutoencoderTask(
        corpus_dir=corpus_dir,
        out_dir=tmp_path,
        cache_dir=cache_dir,
        init_from=trained_autoencoder / "vae",
        decoder_only=True,
    )
    train(task, TrainOptions(out_dir=tmp_path, max_steps=3, batch_size=4, lr=1e-2))
    after = AutoencoderKL.from_pretrained(str(tmp_path / "vae"))
    old, new = before.state_dict(), after.state_dict()
    encoder_side = [k for k in old if k.startswith(("encoder.", "quant_conv."))]
    decoder_side = [k for k in old if k.startswith(("decoder.", "post_quant_conv."))]
    assert encoder_side
    assert decoder_side
    assert all(torch.equal(old[k], new[k]) for k in encoder_side)
    assert any(not torch.equal(old[k], new[k]) for k in decoder_side)
    with pytest.raises(ValueError, match="decoder_only needs init_from"):
        AutoencoderTask(
            corpus_dir=corpus_dir, out_dir=tmp_path, cache_dir=cache_dir, decoder_only=True
        )
