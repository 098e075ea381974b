"""The generator part: it trains, samples, and exports a folder Stable Diffusion code loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from pmg_engine.train.export import folder_size


@pytest.fixture(scope="module")
def pipeline(trained_generator: Path) -> Any:
    """The exported folder loaded the engine's way, with a tiny random BERT as text encoder."""
    from diffusers import StableDiffusionPipeline
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    text_encoder = BertModel(config, add_pooling_layer=False).eval()
    pipe = StableDiffusionPipeline.from_pretrained(
        str(trained_generator / "pipeline"),
        text_encoder=text_encoder,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_generator_run_leaves_checkpoint_samples_and_pipeline(trained_generator: Path) -> None:
    """A short run leaves a checkpoint, a sample grid with its prompts, and a pipeline folder."""
    out = trained_generator
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 2
    assert state["task"]["latent_shape"][0] == 4
    assert (out / "samples" / "step-0000002.png").exists()
    assert len(json.loads((out / "samples" / "prompts.json").read_text())) == 2
    index = json.loads((out / "pipeline" / "model_index.json").read_text())
    assert index["text_encoder"] == [None, None]
    assert index["vae"] == ["diffusers", "AutoencoderKL"]
    assert {"vae", "unet", "scheduler", "tokenizer"} <= {
        p.name for p in (out / "pipeline").iterdir()
    }


def test_exported_weights_are_fp16(trained_generator: Path) -> None:
    """Shipped UNet and VAE weights are stored in fp16."""
    for part in ("unet", "vae"):
        path = trained_generator / "pipeline" / part / "diffusion_pytorch_model.safetensors"
        with safe_open(str(path), framework="pt") as handle:
            names = handle.keys()
            dtypes = {handle.get_tensor(name).dtype for name in names}
        assert dtypes == {torch.float16}
    assert folder_size(trained_generator / "pipeline") < 40 * 2**20


def test_pipeline_makes_rgba_images_from_prompt_embeds(pipeline: Any) -> None:
    """StableDiffusionPipeline with prompt_embeds returns 64-px RGBA images, loaded as fp32."""
    assert pipeline.unet.dtype == torch.float32
    assert pipeline.tokenizer.model_max_length == 32
    embeds = torch.randn(2, 64, 384)
    result = pipeline(
        prompt_embeds=embeds,
        negative_prompt_embeds=torch.zeros_like(embeds),
        num_inference_steps=2,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert [(image.mode, image.size) for image in result.images] == [("RGBA", (64, 64))] * 2


def test_pipeline_makes_rgba_images_from_text(pipeline: Any) -> None:
    """Plain text prompts go through the passed BERT and also give RGBA images."""
    result = pipeline(prompt=["red circle"], num_inference_steps=2, output_type="np")
    assert result.images.shape == (1, 64, 64, 4)


def test_ship_exports_both_parts(
    tmp_path: Path, trained_generator: Path, trained_scorer: Path
) -> None:
    """The export command's core writes generator and scorer folders under the size limit."""
    from pmg_engine.models.scorer import load_scorer_model
    from pmg_engine.train.ship import SIZE_LIMIT_BYTES, ship

    shipped = ship(generator_dir=trained_generator, scorer_dir=trained_scorer, out_dir=tmp_path)
    assert shipped.steps == {"generator": 2, "scorer": 3}
    assert 0 < shipped.total_bytes < SIZE_LIMIT_BYTES
    assert (tmp_path / "generator" / "unet" / "config.json").exists()
    assert load_scorer_model(tmp_path / "scorer").config.styles == ("flat", "outlined")


def test_generator_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
    corpus_dir: Path,
    cache_dir: Path,
    trained_autoencoder: Path,
    minilm_loader: Any,
) -> None:
    """Generator training resumed after 1 step ends where 2 uninterrupted steps end."""
    from pmg_engine.train.generator import GeneratorTask
    from pmg_engine.train.loop import TrainOptions, train

    def run(out: Path, steps: int) -> None:
        task = GeneratorTask(
            corpus_dir=corpus_dir,
            out_dir=out,
            vae_dir=trained_autoencoder / "vae",
            cache_dir=cache_dir,
            preset="tiny",
            text_encoder=minilm_loader,
            sample_count=1,
            sample_steps=1,
        )
        train(task, TrainOptions(out_dir=out, max_steps=steps, batch_size=4, warmup_steps=1))

    run(tmp_path / "a", 2)
    run(tmp_path / "b", 1)
    run(tmp_path / "b", 2)
    a, b = (
        torch.load(p / "checkpoints" / "last.pt", weights_only=False)
        for p in (tmp_path / "a", tmp_path / "b")
    )
    assert a["step"] == b["step"] == 2
    for name, value in a["ema"].items():
        torch.testing.assert_close(b["ema"][name], value, rtol=0, atol=1e-6)


def test_generator_fine_tunes_from_a_trained_unet(
    tmp_path: Path,
    corpus_dir: Path,
    cache_dir: Path,
    trained_autoencoder: Path,
    trained_generator: Path,
    minilm_loader: Any,
) -> None:
    """--init-from starts from the shipped UNet's weights (not a fresh init) and trains on."""
    from diffusers import UNet2DConditionModel

    from pmg_engine.train.generator import GeneratorTask
    from pmg_engine.train.loop import TrainOptions, train

    task = GeneratorTask(
        corpus_dir=corpus_dir,
        out_dir=tmp_path / "tuned",
        vae_dir=trained_autoencoder / "vae",
        cache_dir=cache_dir,
        preset="tiny",
        text_encoder=minilm_loader,
        sample_count=1,
        sample_steps=1,
        init_from=trained_generator / "pipeline",
    )
    start = UNet2DConditionModel.from_pretrained(
        str(trained_generator / "pipeline" / "unet"), torch_dtype=torch.float32
    )
    for name, value in start.state_dict().items():
        torch.testing.assert_close(task.unet.state_dict()[name], value)
    assert task.describe()["init_from"] == str(trained_generator / "pipeline")
    result = train(
        task, TrainOptions(out_dir=tmp_path / "tuned", max_steps=1, batch_size=4, warmup_steps=1)
    )
    assert result.step == 1
    moved = any(
        not torch.equal(task.unet.state_dict()[name], value)
        for name, value in start.state_dict().items()
    )
    assert moved


def test_export_shards_weights_above_the_limit_and_loads_them_back(
    tmp_path: Path, trained_generator: Path
) -> None:
    """With a shard limit below the UNet's size, the UNet is written as several files and an
    index, and ``from_pretrained`` reads back exactly the weights that went in."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from pmg_engine.train.export import export_pipeline

    source = trained_generator / "pipeline"
    unet = UNet2DConditionModel.from_pretrained(str(source / "unet"), torch_dtype=torch.float16)
    vae = AutoencoderKL.from_pretrained(str(source / "vae"), torch_dtype=torch.float16)
    unet_bytes = (source / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    limit = f"{max(1, unet_bytes // 3 // 1000)}KB"
    out = export_pipeline(
        vae=vae, unet=unet, out_dir=tmp_path / "sharded", window=32, max_shard_size=limit
    )
    shards = sorted((out / "unet").glob("*.safetensors"))
    assert len(shards) >= 3
    assert (out / "unet" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    loaded = UNet2DConditionModel.from_pretrained(str(out / "unet"), torch_dtype=torch.float16)
    for name, value in unet.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)
