"""Which look the engine believes a user prefers, read off their implicit tokens.

A linear probe (multinomial logistic regression) on the mean of a user's soft tokens, fitted on
training users whose styles are known. It turns the implicit embedding, which a person cannot
read, into one sentence they can check: "glossy 3D look, 72 % sure". A user who likes a group of
looks (say black and white) has their probability spread over its members, so the confidence
shown is honest about that. The probe fits its training users perfectly, so its raw softmax is
overconfident on anyone else; a temperature fitted on validation users (``calibrate_probe``)
makes the percentage shown mean what it says.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

PROBE_WEIGHTS = "style_probe.safetensors"
PROBE_CONFIG = "style_probe.json"

# How the corpus styles read to a person (the names of the emoji sets mean nothing to users).
STYLE_NAMES = {
    "openmoji": "hand-drawn with black outlines",
    "openmoji-black": "black line art",
    "twemoji": "bright borderless icons",
    "fluent-color": "glossy 3D",
    "fluent-flat": "plain solid shapes",
    "fluent-high-contrast": "bold black silhouettes",
    "noto": "round classic emoji",
}


@dataclass(frozen=True)
class StyleGuess:
    """The most likely style, its probability, and a phrase a user understands."""

    style: str
    confidence: float

    @property
    def description(self) -> str:
        """Return e.g. ``glossy 3D (fluent-color), 72 % sure``."""
        name = STYLE_NAMES.get(self.style, self.style)
        return f"{name} ({self.style}), {round(100 * self.confidence)} % sure"


class StyleProbe:
    """``softmax((W · mean(tokens) + b) / temperature)`` over the corpus styles."""

    def __init__(
        self,
        *,
        styles: Sequence[str],
        weight: torch.Tensor,
        bias: torch.Tensor,
        temperature: float = 1.0,
    ) -> None:
        if weight.shape[0] != len(styles) or bias.shape != (len(styles),):
            raise ValueError(
                f"probe weights {tuple(weight.shape)} / {tuple(bias.shape)} do not fit "
                f"{len(styles)} styles"
            )
        if not temperature > 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.styles = tuple(styles)
        self.weight = weight.float()
        self.bias = bias.float()
        self.temperature = float(temperature)

    def probabilities(self, tokens: torch.Tensor) -> torch.Tensor:
        """Return ``[n_styles]`` probabilities for ``[N, D]`` tokens."""
        features = tokens.float().mean(dim=0)
        return torch.softmax((self.weight @ features + self.bias) / self.temperature, dim=-1)

    def guess(self, tokens: torch.Tensor) -> StyleGuess:
        """Return the most likely style of ``tokens`` with its probability."""
        probabilities = self.probabilities(tokens)
        best = int(probabilities.argmax())
        return StyleGuess(self.styles[best], float(probabilities[best]))

    def save(self, folder: Path, *, figures: dict[str, float] | None = None) -> None:
        """Write the probe beside the module it reads."""
        from safetensors.torch import save_file

        save_file(
            {"weight": self.weight.contiguous(), "bias": self.bias.contiguous()},
            str(folder / PROBE_WEIGHTS),
        )
        data = {"styles": list(self.styles), "temperature": self.temperature, **(figures or {})}
        (folder / PROBE_CONFIG).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> StyleProbe | None:
        """Read the probe of a module folder, or ``None`` when it has none."""
        from safetensors.torch import load_file

        if not (folder / PROBE_WEIGHTS).is_file() or not (folder / PROBE_CONFIG).is_file():
            return None
        data = json.loads((folder / PROBE_CONFIG).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / PROBE_WEIGHTS))
        return cls(
            styles=data["styles"],
            weight=tensors["weight"],
            bias=tensors["bias"],
            temperature=float(data.get("temperature", 1.0)),
        )


def fit_style_probe(
    tokens: Sequence[torch.Tensor],
    styles: Sequence[Sequence[str]],
    *,
    all_styles: Sequence[str],
    steps: int = 500,
    weight_decay: float = 1e-3,
) -> StyleProbe:
    """Fit the probe: each user's target spreads evenly over the styles they like."""
    if len(tokens) != len(styles) or not tokens:
        raise ValueError("fit_style_probe needs one style list per token set, and at least one")
    names = list(all_styles)
    features = torch.stack([t.float().mean(dim=0) for t in tokens])
    # Standardize for a well-conditioned fit, then fold the scaling into W and b.
    mean, std = features.mean(0), features.std(0).clamp(min=1e-6)
    x = (features - mean) / std
    target = torch.zeros(len(tokens), len(names))
    for row, liked in enumerate(styles):
        known = [names.index(s) for s in liked if s in names]
        if not known:
            raise ValueError(f"user {row} likes none of the styles {names}: {list(liked)}")
        target[row, known] = 1.0 / len(known)
    linear = torch.nn.Linear(x.shape[1], len(names))
    optimizer = torch.optim.LBFGS(
        linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = linear(x)
        loss = -(target * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        weight = linear.weight / std
        bias = linear.bias - weight @ mean
    return StyleProbe(styles=names, weight=weight.detach(), bias=bias.detach())


def probe_accuracy(
    probe: StyleProbe, tokens: Sequence[torch.Tensor], styles: Sequence[Sequence[str]]
) -> float:
    """Return how often the probe's best guess is one of the user's styles."""
    if not tokens:
        return float("nan")
    hits = sum(probe.guess(t).style in liked for t, liked in zip(tokens, styles, strict=True))
    return hits / len(tokens)


def probe_nll(
    probe: StyleProbe, tokens: Sequence[torch.Tensor], styles: Sequence[Sequence[str]]
) -> float:
    """Return the mean negative log of the probability the probe gives the user's own styles."""
    if not tokens:
        return float("nan")
    losses = []
    for t, liked in zip(tokens, styles, strict=True):
        probabilities = probe.probabilities(t)
        mass = sum(float(probabilities[probe.styles.index(s)]) for s in liked if s in probe.styles)
        losses.append(-math.log(max(mass, 1e-12)))
    return sum(losses) / len(losses)


def calibrate_probe(
    probe: StyleProbe, tokens: Sequence[torch.Tensor], styles: Sequence[Sequence[str]]
) -> StyleProbe:
    """Return the probe with the temperature that best fits held-out users (least NLL).

    One scalar on a fixed log grid from 0.5 to 50: the best guess never changes, only how sure
    the probe says it is (temperature scaling; fit it on validation users, never test users).
    """
    if not tokens:
        raise ValueError("calibrate_probe needs at least one user's tokens")
    grid = [0.5 * 100 ** (i / 119) for i in range(120)]

    def with_temperature(temperature: float) -> StyleProbe:
        return StyleProbe(
            styles=probe.styles, weight=probe.weight, bias=probe.bias, temperature=temperature
        )

    best = min(grid, key=lambda t: probe_nll(with_temperature(t), tokens, styles))
    return with_temperature(round(best, 4))
