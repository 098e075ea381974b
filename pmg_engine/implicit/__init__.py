"""Implicit preference embeddings: N soft tokens in the generator's text space (DESIGN.md §1).

Two embedders share the ``ImplicitEmbedder`` interface: the paper's trained soft-prompt module
(``SoftPromptEmbedder``, PAPER.md §3) and a pooled-encoder embedder that needs no training
(``PooledEncoderEmbedder``), kept as the fallback and as the evaluation's baseline.
"""

from pmg_engine.implicit._pooled import ImplicitEmbedder, PooledEncoderEmbedder
from pmg_engine.implicit._probe import STYLE_NAMES, StyleGuess, StyleProbe, fit_style_probe
from pmg_engine.implicit._soft_prompt import (
    HistoryLLM,
    HistoryState,
    SoftPromptConfig,
    SoftPromptEmbedder,
    SoftPromptModule,
    load_module,
    save_module,
)

__all__ = [
    "STYLE_NAMES",
    "HistoryLLM",
    "HistoryState",
    "ImplicitEmbedder",
    "PooledEncoderEmbedder",
    "SoftPromptConfig",
    "SoftPromptEmbedder",
    "SoftPromptModule",
    "StyleGuess",
    "StyleProbe",
    "fit_style_probe",
    "load_module",
    "save_module",
]
