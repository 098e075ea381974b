"""MiniLM outputs of every training text, computed once and kept on disk.

MiniLM is frozen, so running it at every step would only repeat the same numbers: on two CPU
cores it would cost more than the UNet step itself. The cache holds token states (fp16, the
generator's conditioning) and unit sentence vectors (the scorer's targets), keyed by the text.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch

from pmg_engine.models.minilm import MiniLM

logger = logging.getLogger(__name__)

MAX_CHUNKS = 2


def text_cache_path(cache_dir: Path, window: int) -> Path:
    """Return where the cache of MiniLM outputs for ``window``-token windows lives."""
    return cache_dir / f"text-minilm-w{window}.safetensors"


class TextCache:
    """Token states ``[N, chunks * window, D]`` and sentence vectors ``[N, D]`` by text."""

    def __init__(
        self,
        *,
        texts: list[str],
        tokens: torch.Tensor,
        chunks: torch.Tensor,
        sentences: torch.Tensor,
        window: int,
    ) -> None:
        self.texts = texts
        self.tokens = tokens
        self.chunks = chunks
        self.sentences = sentences
        self.window = window
        self.index = {text: row for row, text in enumerate(texts)}

    def rows(self, texts: Iterable[str]) -> torch.Tensor:
        """Return the cache rows of ``texts`` (all of which must be cached)."""
        return torch.tensor([self.index[text] for text in texts], dtype=torch.long)

    def token_states(self, text: str) -> torch.Tensor:
        """Return one text's states ``[chunks * window, D]`` without its filler windows."""
        row = self.index[text]
        return self.tokens[row, : int(self.chunks[row]) * self.window].float()

    @classmethod
    def open(
        cls,
        path: Path,
        texts: Sequence[str],
        encoder: Callable[[], MiniLM],
        *,
        batch_size: int = 256,
    ) -> TextCache:
        """Load the cache at ``path`` and add the ``texts`` it lacks (loading MiniLM only then)."""
        from safetensors.torch import load_file, save_file

        cached: TextCache | None = None
        if path.exists():
            from safetensors import safe_open

            tensors = load_file(str(path))
            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads(handle.metadata()["pmg"])
            cached = cls(
                texts=list(meta["texts"]),
                tokens=tensors["tokens"],
                chunks=tensors["chunks"],
                sentences=tensors["sentences"],
                window=int(meta["window"]),
            )
        have = cached.index if cached is not None else {}
        missing = sorted({text for text in texts if text not in have})
        if not missing:
            assert cached is not None
            return cached
        model = encoder()
        if cached is not None and cached.window != model.window:
            raise ValueError(
                f"{path} was built with window {cached.window}, not {model.window}: delete it"
            )
        logger.info("encoding %d new texts with MiniLM into %s", len(missing), path)
        parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            states = model.encode_tokens(batch, max_chunks=MAX_CHUNKS)
            parts.append((states.hidden.half(), states.chunks, model.encode_sentences(batch)))
            logger.info("  %d / %d texts", start + len(batch), len(missing))
        tokens = torch.cat([p[0] for p in parts])
        chunks = torch.cat([p[1] for p in parts])
        sentences = torch.cat([p[2] for p in parts])
        bad = ~(tokens.isfinite().flatten(1).all(1) & sentences.isfinite().all(1))
        if bool(bad.any()):
            # A packed MiniLM (train/travel.py) lacks some word pieces: their rows are NaN.
            first = missing[int(bad.nonzero()[0])]
            raise ValueError(
                f"MiniLM gave non-finite states for {int(bad.sum())} texts, e.g. {first!r}: "
                "its weights lack word pieces these texts use"
            )
        if cached is not None:
            tokens = torch.cat([cached.tokens, tokens])
            chunks = torch.cat([cached.chunks, chunks])
            sentences = torch.cat([cached.sentences, sentences])
        result = cls(
            texts=[*(cached.texts if cached else []), *missing],
            tokens=tokens.contiguous(),
            chunks=chunks.contiguous(),
            sentences=sentences.contiguous(),
            window=model.window,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # One file, texts in its metadata, so rows and texts can never disagree after a crash.
        meta = {"pmg": json.dumps({"window": result.window, "texts": result.texts})}
        tensors = {"tokens": result.tokens, "chunks": result.chunks, "sentences": result.sentences}
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
        return result
