"""Text encoders: chunking, parity with diffusers' own prompt encoding, batching."""

from __future__ import annotations

import pytest
import torch

from pmg_engine.generators import DiffusersGenerator
from pmg_engine.generators.text_encoders import (
    BertTextEncoder,
    CLIPTextEncoder,
    SDXLTextEncoder,
    TextEncoder,
    chunk_token_ids,
)
from tests.generators import dummy


def test_chunks_wrap_each_window_with_start_and_end() -> None:
    """76 tokens become two windows, each start + body + end, the last one padded."""
    chunks = chunk_token_ids(list(range(10, 86)), window=77, start_id=1, end_id=2, pad_id=0)
    assert [len(c) for c in chunks] == [77, 77]
    assert chunks[0] == [1, *range(10, 85), 2]
    assert chunks[1] == [1, 85, 2] + [0] * 74
    assert chunk_token_ids([], window=5, start_id=1, end_id=2, pad_id=0) == [[1, 2, 0, 0, 0]]


def test_clip_matches_diffusers_encode_prompt(sd_generator: DiffusersGenerator) -> None:
    """A short prompt encodes exactly as StableDiffusionPipeline.encode_prompt does."""
    pipe = sd_generator._pipe
    expected, _ = pipe.encode_prompt("a cat drinking coffee", "cpu", 1, False)
    actual = sd_generator.text_encoder.encode(["a cat drinking coffee"]).tokens
    assert torch.equal(actual, expected)


def test_sdxl_matches_diffusers_encode_prompt(sdxl_generator: DiffusersGenerator) -> None:
    """SDXL tokens (penultimate layers side by side) and pooled match diffusers' encode_prompt."""
    embeds, _, pooled, _ = sdxl_generator._pipe.encode_prompt(
        "a cat", device="cpu", do_classifier_free_guidance=False
    )
    encoded = sdxl_generator.text_encoder.encode(["a cat"])
    assert encoded.pooled is not None
    assert torch.equal(encoded.tokens, embeds)
    assert torch.equal(encoded.pooled, pooled)


@pytest.mark.parametrize(("n_chars", "length"), [(70, 77), (100, 154), (200, 231)])
def test_clip_long_prompts_take_whole_windows(
    sd_generator: DiffusersGenerator, n_chars: int, length: int
) -> None:
    """Every 75 tokens add one 77-token window (the tiny tokenizer has a token per character)."""
    tokens = sd_generator.text_encoder.encode(["x" * n_chars]).tokens
    assert tokens.shape == (1, length, 32)


def test_batch_pads_to_the_longest_text(sd_generator: DiffusersGenerator) -> None:
    """A batch shares one length; a short text's first window matches its lone encoding."""
    encoder = sd_generator.text_encoder
    batch = encoder.encode(["a cat", "y" * 100]).tokens
    alone = encoder.encode(["a cat"]).tokens
    assert batch.shape == (2, 154, 32)
    torch.testing.assert_close(batch[:1, :77], alone)
    assert torch.equal(encoder.encode(["a cat"]).tokens, alone)


def test_sdxl_long_prompt_is_chunked_with_first_window_pooled(
    sdxl_generator: DiffusersGenerator,
) -> None:
    """SDXL chunks too; the pooled vector is the first window's, so the tail does not move it."""
    encoder = sdxl_generator.text_encoder
    head = "a cat, " + "z " * 70  # 5 + 70 tokens: exactly the first window's body
    encoded = encoder.encode([head + "z " * 30])
    other_tail = encoder.encode([head + "q " * 30])
    assert encoded.tokens.shape == (1, 154, 64)
    assert encoded.pooled is not None
    assert other_tail.pooled is not None
    assert torch.equal(encoded.pooled, other_tail.pooled)
    assert torch.equal(encoded.tokens[:, :77], other_tail.tokens[:, :77])
    assert not torch.equal(encoded.tokens[:, 77:], other_tail.tokens[:, 77:])


def test_bert_encoder_pads_to_its_window_and_masks() -> None:
    """BERT texts fill fixed windows; padding is masked out of the real tokens' attention."""
    encoder = BertTextEncoder(
        model=dummy.tiny_bert(), tokenizer=dummy.bert_tokenizer(), model_id="tiny-bert"
    )
    assert encoder.window == 16
    assert encoder.encode(["cat"]).tokens.shape == (1, 16, 32)
    assert encoder.encode(["dog " * 20]).tokens.shape == (1, 32, 32)
    # With the mask, the [CLS] cat [SEP] states do not depend on how far the batch pads.
    batch = encoder.encode(["cat", "dog " * 20]).tokens
    torch.testing.assert_close(batch[0, :3], encoder.encode(["cat"]).tokens[0, :3])


def test_encoders_satisfy_the_protocol(sd_generator: DiffusersGenerator) -> None:
    """The three encoders are TextEncoders with the width of their model."""
    sdxl = SDXLTextEncoder(
        text_encoder=dummy.tiny_clip_text_encoder(),
        text_encoder_2=dummy.tiny_clip_text_encoder(with_projection=True),
        tokenizer=dummy.clip_tokenizer(),
        tokenizer_2=dummy.clip_tokenizer(),
        model_id="x",
    )
    bert = BertTextEncoder(model=dummy.tiny_bert(), tokenizer=dummy.bert_tokenizer(), model_id="b")
    assert isinstance(sd_generator.text_encoder, CLIPTextEncoder)
    for encoder, width in ((sd_generator.text_encoder, 32), (sdxl, 64), (bert, 32)):
        assert isinstance(encoder, TextEncoder)
        assert encoder.hidden_size == width


def test_encode_refuses_a_bare_string(sd_generator: DiffusersGenerator) -> None:
    """A str is a Sequence of characters; encode asks for a list instead of encoding each."""
    with pytest.raises(ValueError, match="texts"):
        sd_generator.text_encoder.encode("a cat")
