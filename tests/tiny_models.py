"""Tiny real models built from configs, shared by the test suite (a pytest plugin).

Random weights, real code paths: a CLIP (scorer), a Llama chat model, a Stable Diffusion
pipeline loaded through the project's own loader.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pmg_engine.generators import DiffusersGenerator, GeneratorSpec, load_generator
from pmg_engine.scoring.clip import ClipScorer
from tests.generators.dummy import save_tiny_sd


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


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a word-level tokenizer, saved like a real checkpoint."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<pad>", "<eos>", "<unk>", "<system>", "<user>", "<assistant>", "cats", "pastel"]
    words += [f"w{i}" for i in range(56)]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=1,
        pad_token_id=0,
        bos_token_id=None,
    )
    folder = tmp_path_factory.mktemp("tiny-llm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> DiffusersGenerator:
    """A tiny random Stable Diffusion pipeline loaded through the real loader, once."""
    folder = save_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))
    return load_generator(GeneratorSpec(model=str(folder), device="cpu"))


@pytest.fixture(scope="session")
def tiny_scorer(tiny_clip_dir: Path) -> ClipScorer:
    """A tiny random CLIP scorer, once."""
    return ClipScorer.from_pretrained(str(tiny_clip_dir), device="cpu")
