"""The soft-prompt module on a tiny random Llama: shapes, gradients, cache, windows, files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pmg_engine.implicit import (
    HistoryLLM,
    SoftPromptConfig,
    SoftPromptEmbedder,
    SoftPromptModule,
    StyleProbe,
    fit_style_probe,
    load_module,
    save_module,
)
from pmg_engine.implicit._probe import calibrate_probe, probe_nll

LINES = ["cats pastel w1 w2", "w3 w4 cats", "w5 pastel"]


@pytest.fixture(scope="module")
def llm(tiny_model_dir: Path) -> HistoryLLM:
    """The tiny Llama as the frozen history LLM."""
    return HistoryLLM.from_pretrained(tiny_model_dir, max_history_tokens=40)


def _module(llm: HistoryLLM, **extra: int) -> SoftPromptModule:
    config = SoftPromptConfig.for_llm(
        llm.model, llm="tiny", text_width=8, text_space="test-space", **extra
    )
    torch.manual_seed(0)
    module = SoftPromptModule(config)
    llm.init_module(module)
    # Training moves the mapping away from its near-zero start; so does this.
    torch.nn.init.normal_(module.mapping.weight, std=0.5)
    return module


def test_soft_tokens_have_the_text_width_and_only_the_module_learns(llm: HistoryLLM) -> None:
    """[B, N, d_text] out; gradients reach prefix, tokens and mapping, never the LLM."""
    module = _module(llm, num_tokens=3, num_prefix_tokens=2)
    states = [llm.history_state(LINES), llm.history_state(LINES[:1])]
    soft = llm.soft_tokens(module, states)
    assert soft.shape == (2, 3, 8)
    soft.pow(2).mean().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in llm.model.parameters())


def test_a_batch_gives_each_history_what_it_gets_alone(llm: HistoryLLM) -> None:
    """Left padding is masked out: the short history's tokens do not change in a batch."""
    module = _module(llm)
    long, short = llm.history_state(LINES), llm.history_state(LINES[-1:])
    with torch.no_grad():
        alone = llm.soft_tokens(module, [short])[0]
        batched = llm.soft_tokens(module, [long, short])[1]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_the_prefix_steers_the_tokens_through_the_cache(llm: HistoryLLM) -> None:
    """Changing the prefix keys and values changes the output: it is wired into every layer."""
    module = _module(llm)
    state = llm.history_state(LINES)
    with torch.no_grad():
        before = llm.soft_tokens(module, [state])
        module.prefix.mul_(3.0).add_(0.5)
        after = llm.soft_tokens(module, [state])
    assert not torch.allclose(before, after, atol=1e-4)


def test_the_history_differs_in_the_tokens(llm: HistoryLLM) -> None:
    """Two different histories give different tokens (the module reads the history)."""
    module = _module(llm)
    with torch.no_grad():
        a = llm.soft_tokens(module, [llm.history_state(["cats cats cats"])])
        b = llm.soft_tokens(module, [llm.history_state(["pastel w9 w10 w11"])])
    assert not torch.allclose(a, b, atol=1e-4)


def test_the_newest_lines_fit_the_token_budget(tiny_model_dir: Path) -> None:
    """Old lines are dropped first; the newest line is always kept."""
    llm = HistoryLLM.from_pretrained(tiny_model_dir, max_history_tokens=12)
    lines = [f"w{i} w{i} w{i} w{i}" for i in range(10)]
    text = llm.tokenizer.decode(llm.prompt_ids(lines))
    assert "w9" in text
    assert "w0" not in text


def test_an_empty_history_is_a_clear_error(llm: HistoryLLM) -> None:
    """Blank lines only: a ValueError that says so."""
    with pytest.raises(ValueError, match="empty history"):
        llm.prompt_ids(["", "   "])


def test_saved_module_loads_and_embeds_the_same(llm: HistoryLLM, tmp_path: Path) -> None:
    """fp32 save and load round trip; the embedder's tokens match the module's."""
    module = _module(llm)
    save_module(module, tmp_path, half=False)
    loaded = load_module(tmp_path)
    embedder = SoftPromptEmbedder(module=loaded, llm=llm)
    with torch.no_grad():
        expected = llm.soft_tokens(module, [llm.history_state(LINES)])[0]
    torch.testing.assert_close(embedder.embed(LINES), expected)
    assert embedder.model_id.startswith("soft-prompt:tiny:p4n4:")


def test_a_module_refuses_an_llm_of_another_shape(llm: HistoryLLM) -> None:
    """A module trained on another LLM is a clear error, not garbage tokens."""
    config = SoftPromptConfig.for_llm(llm.model, llm="tiny", text_width=8, text_space="x")
    other = SoftPromptConfig(**{**config.to_json(), "num_layers": config.num_layers + 1})
    with pytest.raises(ValueError, match="num_layers"):
        SoftPromptEmbedder(module=SoftPromptModule(other), llm=llm)


def test_missing_module_folder_is_file_not_found(tmp_path: Path) -> None:
    """No weights in the folder: FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="no trained soft-prompt module"):
        load_module(tmp_path)


def test_calibration_lowers_an_overconfident_probes_certainty(tmp_path: Path) -> None:
    """A probe sure of itself on users it often gets wrong is cooled; its guesses stay the same."""
    torch.manual_seed(1)
    centres = {"noto": torch.randn(8), "twemoji": torch.randn(8)}

    def users(count: int, noise: float) -> tuple[list[torch.Tensor], list[tuple[str]]]:
        tokens, styles = [], []
        for i in range(count):
            style = "noto" if i % 2 else "twemoji"
            tokens.append(centres[style] + noise * torch.randn(4, 8))
            styles.append((style,))
        return tokens, styles

    train_tokens, train_styles = users(40, 0.1)
    probe = fit_style_probe(train_tokens, train_styles, all_styles=["noto", "twemoji"])
    # Held-out users are far noisier than the training users: the raw probe is overconfident.
    val_tokens, val_styles = users(60, 2.0)
    calibrated = calibrate_probe(probe, val_tokens, val_styles)
    assert calibrated.temperature > 1.0
    assert probe_nll(calibrated, val_tokens, val_styles) < probe_nll(probe, val_tokens, val_styles)
    for t in val_tokens:
        assert calibrated.guess(t).style == probe.guess(t).style
        assert calibrated.guess(t).confidence <= probe.guess(t).confidence + 1e-6
    calibrated.save(tmp_path)
    loaded = StyleProbe.load(tmp_path)
    assert loaded is not None
    assert loaded.temperature == calibrated.temperature
    with pytest.raises(ValueError, match="temperature"):
        StyleProbe(styles=probe.styles, weight=probe.weight, bias=probe.bias, temperature=0.0)


def test_style_probe_separates_styles_and_round_trips(tmp_path: Path) -> None:
    """A probe fitted on separable tokens names the right style; saved and loaded, the same."""
    torch.manual_seed(0)
    centres = {"noto": torch.randn(8), "twemoji": torch.randn(8)}
    tokens, styles = [], []
    for i in range(40):
        style = "noto" if i % 2 else "twemoji"
        tokens.append(centres[style] + 0.1 * torch.randn(4, 8))
        styles.append((style,))
    probe = fit_style_probe(tokens, styles, all_styles=["noto", "twemoji"])
    guess = probe.guess(centres["noto"].expand(4, 8))
    assert guess.style == "noto"
    assert guess.confidence > 0.9
    assert "round classic emoji" in guess.description
    probe.save(tmp_path)
    loaded = StyleProbe.load(tmp_path)
    assert loaded is not None
    torch.testing.assert_close(
        loaded.probabilities(tokens[0]), probe.probabilities(tokens[0]), atol=1e-6, rtol=1e-6
    )
