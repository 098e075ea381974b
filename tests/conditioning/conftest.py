"""Text encoders over tiny random models, built once per session."""

from __future__ import annotations

import pytest

from pmg_engine.generators.text_encoders import BertTextEncoder, CLIPTextEncoder, SDXLTextEncoder
from tests.generators import dummy


@pytest.fixture(scope="session")
def clip_encoder() -> CLIPTextEncoder:
    """An SD 1.x-style CLIP encoder (width 32, window 77, one token per character)."""
    return CLIPTextEncoder(
        text_encoder=dummy.tiny_clip_text_encoder(),
        tokenizer=dummy.clip_tokenizer(),
        model_id="tiny-clip",
    )


@pytest.fixture(scope="session")
def sdxl_encoder() -> SDXLTextEncoder:
    """An SDXL-style pair of CLIP encoders (width 32 + 32, pooled 32)."""
    return SDXLTextEncoder(
        text_encoder=dummy.tiny_clip_text_encoder(seed=1),
        text_encoder_2=dummy.tiny_clip_text_encoder(with_projection=True, seed=2),
        tokenizer=dummy.clip_tokenizer(),
        tokenizer_2=dummy.clip_tokenizer(),
        model_id="tiny-sdxl",
    )


@pytest.fixture(scope="session")
def bert_encoder() -> BertTextEncoder:
    """A MiniLM-style BERT encoder (width 32, window 16 from its tokenizer)."""
    return BertTextEncoder(
        model=dummy.tiny_bert(), tokenizer=dummy.bert_tokenizer(), model_id="tiny-bert"
    )
