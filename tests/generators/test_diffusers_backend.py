"""Loading diffusers layouts by path and generating batched, seeded candidates on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmg_engine.conditioning import (
    Conditioning,
    ConditionWeights,
    build_conditioning,
    build_conditioning_grid,
)
from pmg_engine.generators import (
    DiffusersGenerator,
    GeneratorSpec,
    ModelNotAvailableError,
    UnsupportedModelError,
    load_generator,
)
from pmg_engine.generators.text_encoders import MINILM_MODEL_ID
from tests.generators import dummy

STEPS = 2


def _grid(generator: DiffusersGenerator, n: int = 2) -> Conditioning:
    return build_conditioning_grid(
        encoder=generator.text_encoder,
        target_text="a cat drinking coffee",
        preference_text="pastel, kawaii",
        implicit=torch.ones(2, generator.text_encoder.hidden_size),
        weights_grid=[ConditionWeights(preference=1.0 + i) for i in range(n)],
        negative_prompt="blurry",
    )


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_sd_folder_loads_by_path(sd_generator: DiffusersGenerator, sd_folder: Path) -> None:
    """A StableDiffusionPipeline folder loads as the 'sd' family with its CLIP encoder."""
    assert sd_generator.family == "sd"
    assert sd_generator.model_id == str(sd_folder)
    assert sd_generator.native_size == (dummy.NATIVE_SIZE, dummy.NATIVE_SIZE)
    assert not sd_generator.produces_alpha
    assert sd_generator.text_encoder.hidden_size == dummy.CLIP_HIDDEN
    assert sd_generator.device == torch.device("cpu")
    assert sd_generator.dtype == torch.float32


def test_batch_of_two_is_seeded_per_candidate(sd_generator: DiffusersGenerator) -> None:
    """Two candidates come from one call; candidate 0 alone matches candidate 0 in the batch."""
    grid = _grid(sd_generator)
    batch = sd_generator.generate(grid, seeds=[7, 8], num_inference_steps=STEPS, guidance_scale=5)
    alone = sd_generator.generate(
        Conditioning(
            prompt_embeds=grid.prompt_embeds[:1],
            negative_prompt_embeds=grid.negative_prompt_embeds[:1],
        ),
        seeds=[7],
        num_inference_steps=STEPS,
        guidance_scale=5,
    )
    assert [image.size for image in batch] == [(dummy.NATIVE_SIZE, dummy.NATIVE_SIZE)] * 2
    assert all(image.mode == "RGB" for image in batch)
    assert np.abs(_pixels(batch[0]) - _pixels(alone[0])).max() <= 1
    assert np.abs(_pixels(batch[0]) - _pixels(batch[1])).max() > 0


def test_same_seed_same_image(sd_generator: DiffusersGenerator) -> None:
    """Repeating a call with the same seeds reproduces the images exactly."""
    grid = _grid(sd_generator, n=1)
    first = sd_generator.generate(grid, seeds=[3], num_inference_steps=STEPS, guidance_scale=5)
    again = sd_generator.generate(grid, seeds=[3], num_inference_steps=STEPS, guidance_scale=5)
    other = sd_generator.generate(grid, seeds=[4], num_inference_steps=STEPS, guidance_scale=5)
    assert np.array_equal(_pixels(first[0]), _pixels(again[0]))
    assert not np.array_equal(_pixels(first[0]), _pixels(other[0]))


def test_step_callback_fires_once_per_step(sd_generator: DiffusersGenerator) -> None:
    """on_step reports (step, total) after each of the num_inference_steps steps."""
    calls: list[tuple[int, int]] = []
    sd_generator.generate(
        _grid(sd_generator, n=1),
        seeds=[0, 1],
        num_inference_steps=3,
        guidance_scale=0.0,
        on_step=lambda step, total: calls.append((step, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_custom_size_and_invalid_arguments(sd_generator: DiffusersGenerator) -> None:
    """Width and height override the native size; bad sizes, seeds and counts are refused."""
    cond = _grid(sd_generator, n=1)
    images = sd_generator.generate(
        cond, seeds=[1], num_inference_steps=1, guidance_scale=1.0, width=48, height=16
    )
    assert images[0].size == (48, 16)
    with pytest.raises(ValueError, match="width must be a multiple of 2"):
        sd_generator.generate(cond, seeds=[1], num_inference_steps=1, guidance_scale=1, width=33)
    with pytest.raises(ValueError, match="seed"):
        sd_generator.generate(cond, seeds=[-1], num_inference_steps=1, guidance_scale=1)
    with pytest.raises(ValueError, match="3 rows but 2 seeds"):
        sd_generator.generate(
            _grid(sd_generator, n=3), seeds=[1, 2], num_inference_steps=1, guidance_scale=1
        )
    with pytest.raises(ValueError, match="num_inference_steps"):
        sd_generator.generate(cond, seeds=[1], num_inference_steps=0, guidance_scale=1)


def test_img2img_runs_from_references_without_copying_weights(
    sd_generator: DiffusersGenerator,
) -> None:
    """init_images switch to SDEdit: fewer steps, same size, same modules as text-to-image."""
    calls: list[tuple[int, int]] = []
    reference = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    images = sd_generator.generate(
        _grid(sd_generator),
        seeds=[1, 2],
        num_inference_steps=4,
        guidance_scale=5,
        init_images=[reference],
        strength=0.5,
        on_step=lambda step, total: calls.append((step, total)),
    )
    assert [image.size for image in images] == [(dummy.NATIVE_SIZE, dummy.NATIVE_SIZE)] * 2
    assert calls == [(1, 2), (2, 2)]
    assert sd_generator._img2img.unet is sd_generator._pipe.unet
    assert sd_generator._img2img.scheduler is not sd_generator._pipe.scheduler
    with pytest.raises(ValueError, match="no denoising step"):
        sd_generator.generate(
            _grid(sd_generator, n=1),
            seeds=[1],
            num_inference_steps=2,
            guidance_scale=5,
            init_images=[reference],
            strength=0.2,
        )


def test_own_rgba_layout_loads_and_returns_rgba(own_generator: DiffusersGenerator) -> None:
    """The own-model layout (BERT text encoder, 4-channel VAE) gives RGBA images, also img2img."""
    assert own_generator.family == "own"
    assert own_generator.produces_alpha
    assert own_generator.text_encoder.hidden_size == dummy.BERT_HIDDEN
    images = own_generator.generate(
        _grid(own_generator), seeds=[1, 2], num_inference_steps=STEPS, guidance_scale=4
    )
    assert [image.mode for image in images] == ["RGBA", "RGBA"]
    assert len(np.unique(np.asarray(images[0])[..., 3])) > 1
    edited = own_generator.generate(
        _grid(own_generator),
        seeds=[1, 2],
        num_inference_steps=2,
        guidance_scale=4,
        init_images=images,
        strength=0.5,
    )
    assert [(image.mode, image.size) for image in edited] == [("RGBA", images[0].size)] * 2


def test_own_layout_without_text_encoder_uses_minilm(tmp_path: Path) -> None:
    """A folder with no text_encoder/ loads all-MiniLM-L6-v2 from the wheel as its encoder."""
    folder = dummy.save_tiny_own_model(tmp_path / "own", with_text_encoder=False)
    generator = load_generator(GeneratorSpec(model=str(folder), device="cpu"))
    assert generator.text_encoder.model_id == MINILM_MODEL_ID
    assert generator.text_encoder.hidden_size == dummy.MINILM_HIDDEN
    cond = build_conditioning(
        encoder=generator.text_encoder,
        target_text="a happy cat",
        preference_text="",
        implicit=None,
        weights=ConditionWeights(),
    )
    images = generator.generate(cond, seeds=[5], num_inference_steps=1, guidance_scale=3)
    assert images[0].mode == "RGBA"


def test_sdxl_generates_with_pooled_embeddings(sdxl_generator: DiffusersGenerator) -> None:
    """The SDXL layout takes the pooled embeddings and generates a seeded batch."""
    calls: list[tuple[int, int]] = []
    images = sdxl_generator.generate(
        _grid(sdxl_generator),
        seeds=[1, 2],
        num_inference_steps=STEPS,
        guidance_scale=5,
        on_step=lambda step, total: calls.append((step, total)),
    )
    assert sdxl_generator.family == "sdxl"
    assert [image.size for image in images] == [(dummy.NATIVE_SIZE, dummy.NATIVE_SIZE)] * 2
    assert len(calls) == STEPS


def test_conditioning_from_another_family_is_refused(
    sd_generator: DiffusersGenerator, sdxl_generator: DiffusersGenerator
) -> None:
    """Conditioning built for another encoder width or without SDXL's pooled part is refused."""
    with pytest.raises(ValueError, match="width 64"):
        sd_generator.generate(
            _grid(sdxl_generator, n=1), seeds=[1], num_inference_steps=1, guidance_scale=1
        )
    no_pooled = Conditioning(
        prompt_embeds=torch.zeros(1, 77, 64), negative_prompt_embeds=torch.zeros(1, 77, 64)
    )
    with pytest.raises(ValueError, match="pooled"):
        sdxl_generator.generate(no_pooled, seeds=[1], num_inference_steps=1, guidance_scale=1)


def test_missing_local_path_says_how_to_configure(tmp_path: Path) -> None:
    """A missing folder gives one sentence naming the setting, a local path and the download."""
    with pytest.raises(ModelNotAvailableError) as info:
        load_generator(GeneratorSpec(model=str(tmp_path / "nowhere")))
    message = str(info.value)
    assert "PMG_GENERATOR__MODEL" in message
    assert "local diffusers folder" in message
    assert "PMG_GENERATOR__ALLOW_HUB_DOWNLOAD=true" in message
    assert message.count(". ") == 0
    assert message.endswith(".")


def test_uncached_hub_id_is_not_downloaded() -> None:
    """A hub id that is not in the local cache fails offline instead of downloading."""
    with pytest.raises(ModelNotAvailableError, match="PMG_GENERATOR__ALLOW_HUB_DOWNLOAD"):
        load_generator(GeneratorSpec(model="pmg-tests/no-such-model-cached"))


def test_text_encoder_must_fit_the_unet(tmp_path: Path) -> None:
    """A text encoder whose width differs from the UNet's cross-attention is refused at load."""
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(
        vae=dummy.tiny_vae(channels=4),
        text_encoder=dummy.tiny_bert(),
        tokenizer=dummy.bert_tokenizer(),
        unet=dummy.tiny_unet(cross_attention_dim=16),
        scheduler=dummy.ddim_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match=r"width 32.*cross_attention_dim 16"):
        load_generator(GeneratorSpec(model=str(tmp_path)))


def test_folder_without_model_index_is_not_a_model(tmp_path: Path) -> None:
    """A folder that is not a diffusers pipeline is reported as missing a model."""
    with pytest.raises(ModelNotAvailableError, match=r"model_index\.json"):
        load_generator(GeneratorSpec(model=str(tmp_path)))


def test_unsupported_pipeline_class_is_refused(tmp_path: Path) -> None:
    """Pipelines outside the Stable Diffusion family are refused by name."""
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(UnsupportedModelError, match="FluxPipeline"):
        load_generator(GeneratorSpec(model=str(tmp_path)))


def test_reduced_precision_is_kept_by_the_img2img_view(sd_folder: Path) -> None:
    """A bfloat16 load stays bfloat16: from_pipe must not cast the shared weights to float32."""
    generator = load_generator(GeneratorSpec(model=str(sd_folder), device="cpu", dtype="bfloat16"))
    assert generator.dtype == torch.bfloat16
    assert generator._pipe.unet.dtype == torch.bfloat16
    cond = _grid(generator, n=1)  # float32 embeddings are cast by generate
    images = generator.generate(
        cond,
        seeds=[1],
        num_inference_steps=2,
        guidance_scale=5,
        init_images=[Image.new("RGB", (8, 8), "white")],
        strength=0.5,
    )
    assert images[0].size == (dummy.NATIVE_SIZE, dummy.NATIVE_SIZE)
    assert generator._pipe.unet.dtype == torch.bfloat16


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_unpersonalized_matches_a_plain_diffusers_call(
    family: str, sd_generator: DiffusersGenerator, sdxl_generator: DiffusersGenerator
) -> None:
    """Personalization off gives the image the pipeline draws from the bare prompt and seed."""
    generator = sd_generator if family == "sd" else sdxl_generator
    cond = build_conditioning(
        encoder=generator.text_encoder,
        target_text="a cat drinking coffee",
        preference_text="",
        implicit=None,
        weights=ConditionWeights(),
    )
    ours = generator.generate(cond, seeds=[11], num_inference_steps=STEPS, guidance_scale=5)
    with torch.inference_mode():
        plain = generator._pipe(
            prompt="a cat drinking coffee",
            generator=[torch.Generator().manual_seed(11)],
            num_inference_steps=STEPS,
            guidance_scale=5,
        ).images
    assert np.abs(_pixels(ours[0]) - _pixels(plain[0])).max() <= 1


def test_check_inputs_names_the_bad_argument_before_running(
    sd_generator: DiffusersGenerator,
) -> None:
    """NaN or integer embeddings and an infinite guidance scale are refused, naming each."""
    import dataclasses

    cond = _grid(sd_generator, n=2)
    assert sd_generator.check_inputs(cond, seeds=[1, 2], num_inference_steps=2, guidance_scale=1)[
        2
    ] == [1, 2]
    nan = cond.prompt_embeds.clone()
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"prompt_embeds must be finite, got 1 NaN"):
        sd_generator.generate(
            dataclasses.replace(cond, prompt_embeds=nan),
            seeds=[1, 2],
            num_inference_steps=1,
            guidance_scale=1,
        )
    as_int = cond.negative_prompt_embeds.to(torch.int64)
    with pytest.raises(ValueError, match=r"negative_prompt_embeds must be floating point.*int64"):
        sd_generator.check_inputs(
            dataclasses.replace(cond, negative_prompt_embeds=as_int),
            seeds=[1, 2],
            num_inference_steps=1,
            guidance_scale=1,
        )
    with pytest.raises(ValueError, match=r"guidance_scale must be finite and >= 0, got inf"):
        sd_generator.check_inputs(
            cond, seeds=[1, 2], num_inference_steps=1, guidance_scale=float("inf")
        )
