"""The embedder interface and the pooled-encoder embedder (no training; fallback and baseline).

Each history line is encoded with the generator's own text encoder, lines are weighted by
recency, and the weighted vectors of N consecutive stretches of the history become N tokens, so
older and newer tastes keep separate tokens instead of blurring into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from pmg_engine.generators.text_encoders import TextEncoder
    from pmg_engine.implicit._probe import StyleGuess


class ImplicitEmbedder(Protocol):
    """Produces ``[num_tokens, hidden_size]`` preference tokens from behaviour lines."""

    @property
    def model_id(self) -> str: ...

    @property
    def num_tokens(self) -> int: ...

    def embed(self, lines: Sequence[str]) -> torch.Tensor: ...

    def style_guess(self, tokens: torch.Tensor) -> StyleGuess | None:
        """Return the look ``tokens`` say the user prefers, or ``None`` when it cannot tell."""
        ...


class PooledEncoderEmbedder:
    """Recency-weighted, stretch-pooled encoder states of the history lines."""

    def __init__(
        self,
        encoder: TextEncoder,
        *,
        num_tokens: int = 4,
        recency_half_life: float = 20.0,
        max_lines: int = 64,
    ) -> None:
        if num_tokens < 1:
            raise ValueError(f"num_tokens must be at least 1, got {num_tokens}")
        if recency_half_life <= 0:
            raise ValueError(f"recency_half_life must be positive, got {recency_half_life}")
        self.encoder = encoder
        self._num_tokens = num_tokens
        self.recency_half_life = recency_half_life
        self.max_lines = max_lines

    @property
    def num_tokens(self) -> int:
        return self._num_tokens

    @property
    def model_id(self) -> str:
        return f"pooled:{self.encoder.model_id}:n{self._num_tokens}"

    def style_guess(self, tokens: torch.Tensor) -> StyleGuess | None:
        """Untrained tokens name no style."""
        return None

    def embed(self, lines: Sequence[str]) -> torch.Tensor:
        """Return ``[num_tokens, hidden_size]`` float32 tokens for ``lines`` (oldest first)."""
        import torch

        # 1. Validate and bound the input: only the newest lines count.
        texts = [line for line in lines if line.strip()][-self.max_lines :]
        if not texts:
            raise ValueError("cannot embed an empty history: pass at least one non-empty line")
        # 2. One vector per line: the mean of the token states the generator would attend to
        #    for that line alone (its padding included, as the generator sees it).
        vectors, norms = [], []
        with torch.inference_mode():
            for text in texts:
                tokens = self.encoder.encode([text]).tokens[0].float()  # [L, D]
                vectors.append(tokens.mean(0))
                norms.append(tokens.norm(dim=-1))
        lines_matrix = torch.stack(vectors)  # [T, D]
        target_norm = torch.cat(norms).mean()
        # 3. Recency weights: half weight every `recency_half_life` lines back.
        count = lines_matrix.shape[0]
        age = torch.arange(count - 1, -1, -1, dtype=torch.float32)
        recency = 0.5 ** (age / self.recency_half_life)
        # 4. N consecutive stretches -> N tokens (a short history repeats its stretches).
        bounds = torch.linspace(0, count, self._num_tokens + 1)
        out = []
        for i in range(self._num_tokens):
            lo = min(int(bounds[i].floor()), count - 1)
            hi = max(int(bounds[i + 1].ceil()), lo + 1)
            w = recency[lo:hi]
            out.append((lines_matrix[lo:hi] * w.unsqueeze(-1)).sum(0) / w.sum())
        soft = torch.stack(out)
        # 5. Give every token the typical norm of a real token, so condition weights compare.
        result: torch.Tensor = soft / soft.norm(dim=-1, keepdim=True).clamp(min=1e-6) * target_norm
        return result
