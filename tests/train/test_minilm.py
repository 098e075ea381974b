"""The MiniLM text side: windowed token states as the engine computes them, sentence vectors."""

from __future__ import annotations

import pytest
import torch

from pmg_engine.models.minilm import MiniLM, empty_prompt_states


def test_token_states_match_the_engine_encoder(minilm: MiniLM) -> None:
    """Training conditioning equals what the engine's BertTextEncoder feeds the generator."""
    engine = pytest.importorskip("pmg_engine.generators.text_encoders")
    encoder = engine.BertTextEncoder(
        model=minilm.model, tokenizer=minilm.tokenizer, model_id="minilm", window=minilm.window
    )
    texts = ["red circle, circle, red, flat style", "word " * 40]
    ours = minilm.encode_tokens(texts, max_chunks=2)
    for i, text in enumerate(texts):
        theirs = encoder.encode([text]).tokens[0]
        chunks = int(ours.chunks[i])
        assert theirs.shape[0] == chunks * minilm.window
        torch.testing.assert_close(ours.hidden[i, : len(theirs)], theirs, atol=1e-4, rtol=1e-4)


def test_long_texts_fill_windows_up_to_the_limit(minilm: MiniLM) -> None:
    """A text longer than one window fills two; the mask marks only each text's own tokens."""
    states = minilm.encode_tokens(["cat", "word " * 40, "word " * 200], max_chunks=2)
    assert states.hidden.shape == (3, 2 * minilm.window, 384)
    assert states.chunks.tolist() == [1, 2, 2]
    assert int(states.mask[0].sum()) == 3  # [CLS] cat [SEP]
    assert int(states.mask[0, minilm.window :].sum()) == 0
    torch.testing.assert_close(states.hidden[0, minilm.window :], states.hidden[0, minilm.window :])


def test_empty_prompt_is_one_window(minilm: MiniLM) -> None:
    """E("") is one window of states, the unconditional prompt of guidance."""
    empty = empty_prompt_states(minilm)
    assert empty.shape == (minilm.window, 384)
    assert empty.abs().sum() > 0


def test_sentence_vectors_are_unit_and_meaningful(minilm: MiniLM) -> None:
    """Sentence vectors have unit norm and put related captions closer than unrelated ones."""
    vectors = minilm.encode_sentences(["a red apple", "red fruit apple", "a blue car"])
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
