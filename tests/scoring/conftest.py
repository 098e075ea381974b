"""A tiny random CLIP saved to disk, built from configs as transformers' own fast tests do."""

from __future__ import annotations

from pathlib import Path

import pytest


def _byte_level_alphabet() -> list[str]:
    # GPT-2 / CLIP byte-to-unicode table: every byte gets a printable character, so a vocabulary
    # of single characters (no merges) can spell any text.
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = [byte for byte in range(256) if byte not in printable]
    codes = printable + [256 + offset for offset in range(len(extra))]
    return [chr(code) for code in codes]


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Save a randomly initialised tiny CLIP model and its processor; return the folder."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    alphabet = _byte_level_alphabet()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for char in alphabet:
            vocab[char + suffix] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    text_config = {
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 32,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }
    vision_config = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
    }
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=16)
    torch.manual_seed(0)
    model = CLIPModel(config)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    folder = tmp_path_factory.mktemp("tiny-clip")
    model.save_pretrained(folder)
    processor = CLIPProcessor(  # type: ignore[no-untyped-call]  # transformers leaves it untyped
        image_processor=image_processor, tokenizer=tokenizer
    )
    processor.save_pretrained(folder)
    return folder
