"""The shipped offline model pack: within its size limits, loads with the hub off, draws.

These run the real shipped weights on the CPU (a few seconds): they are the guarantee that a
fresh checkout can draw without any download.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pmg_engine.conditioning import ConditionWeights, build_conditioning_grid
from pmg_engine.generators import DiffusersGenerator, GeneratorSpec, load_generator
from pmg_engine.models.scorer import MiniScorer, load_scorer
from pmg_engine.reference import ReferenceIndex
from pmg_engine.runtime import (
    BUILTIN_GENERATOR,
    BUILTIN_IMPLICIT,
    BUILTIN_REFERENCE,
    BUILTIN_SCORER,
    BUILTIN_UPSCALER,
)

MIB = 2**20
PROMPTS = ("red heart", "cat face", "alarm clock", "pizza")


def _bytes(folder: Path, suffix: str = "") -> int:
    return sum(p.stat().st_size for p in folder.rglob(f"*{suffix}") if p.is_file())


@pytest.fixture(scope="module")
def generator(monkeypatch_module: pytest.MonkeyPatch) -> DiffusersGenerator:
    """The builtin generator, loaded with the hub switched off."""
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    return load_generator(GeneratorSpec(model=str(BUILTIN_GENERATOR), device="cpu"))


@pytest.fixture(scope="module")
def scorer() -> MiniScorer:
    """The builtin mini scorer."""
    return load_scorer(BUILTIN_SCORER)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A module-scoped monkeypatch."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_pack_is_within_the_size_limits() -> None:
    """All shipped weights 40 MB at most together and no file above 20 MB, the upscaler under
    1 MB, the reference index 25 MB."""
    weights = sum(
        _bytes(folder, ".safetensors")
        for folder in (BUILTIN_GENERATOR, BUILTIN_SCORER, BUILTIN_IMPLICIT, BUILTIN_UPSCALER)
    )
    assert 0 < weights <= 40 * MIB
    assert 0 < _bytes(BUILTIN_UPSCALER, ".safetensors") < 1 * MIB
    assert 0 < _bytes(BUILTIN_REFERENCE) <= 25 * MIB
    # No single weight file above 20 MB (decimal, the stricter reading): larger parts are shards.
    for folder in (BUILTIN_GENERATOR, BUILTIN_SCORER, BUILTIN_IMPLICIT, BUILTIN_UPSCALER):
        for path in folder.rglob("*.safetensors"):
            assert path.stat().st_size <= 20_000_000, f"{path} is not sharded"
    shipped = (BUILTIN_GENERATOR, BUILTIN_SCORER, BUILTIN_REFERENCE, BUILTIN_IMPLICIT)
    for folder in (*shipped, BUILTIN_UPSCALER):
        assert (folder / "README.md").is_file(), f"{folder} has no model card / notice"


def test_builtin_generator_draws_rgba_stickers_the_scorer_recognizes(
    generator: DiffusersGenerator, scorer: MiniScorer
) -> None:
    """Each prompt's drawing is a cut-out (transparent and opaque pixels) that the shipped
    scorer matches to its own prompt rather than to the three others."""
    assert generator.family == "own"
    assert generator.produces_alpha
    images = []
    for prompt in PROMPTS:
        grid = build_conditioning_grid(
            encoder=generator.text_encoder,
            target_text=prompt,
            preference_text="",
            implicit=None,
            weights_grid=[ConditionWeights()],
        )
        (image,) = generator.generate(grid, seeds=[0], num_inference_steps=12, guidance_scale=5)
        alpha = np.asarray(image)[..., 3]
        assert image.mode == "RGBA"
        assert (alpha < 16).mean() > 0.05, f"{prompt!r} has no transparent background"
        assert (alpha > 240).mean() > 0.05, f"{prompt!r} has no opaque drawing"
        images.append(image)
    sims = scorer.score(images, list(PROMPTS))
    assert (sims.argmax(axis=1) == np.arange(len(PROMPTS))).sum() >= 3, sims


def test_builtin_upscaler_beats_bicubic_on_fresh_drawings() -> None:
    """On 25 drawings it never saw (not emoji at all), the shipped upscaler has a higher PSNR
    than bicubic, premultiplied and on white, and crisper edges."""
    from PIL import Image

    from pmg_engine.eval.upscaler import evaluate_upscaler, learned, resample
    from pmg_engine.models.upscaler import load_upscaler
    from pmg_engine.train.upscaler_pairs import stack_pairs
    from tests.synthetic_pairs import masters

    upscaler = load_upscaler(BUILTIN_UPSCALER)
    drawn = masters()
    low, high, _ = stack_pairs(drawn, count=len(drawn))
    figures = evaluate_upscaler(
        low=low,
        high=high,
        methods={"bicubic": resample(Image.Resampling.BICUBIC), "learned": learned(upscaler)},
    )
    bicubic, ours = figures["bicubic"], figures["learned"]
    assert ours["psnr_premultiplied_db"] > bicubic["psnr_premultiplied_db"], figures
    assert ours["psnr_on_white_db"] > bicubic["psnr_on_white_db"], figures
    assert ours["edge_sharpness"] > bicubic["edge_sharpness"], figures


def test_reference_index_loads_and_finds_a_heart() -> None:
    """Reference-guided mode works offline: the nearest shipped item to 'red heart' is a heart."""
    index = ReferenceIndex.load(BUILTIN_REFERENCE)
    assert "openmoji" not in index.styles
    (found,) = index.nearest("red heart")
    assert "heart" in found.label
    assert found.image.mode == "RGBA"


def test_builtin_implicit_module_fits_the_builtin_generator() -> None:
    """The shipped soft-prompt module is for the shipped generator's text space and its LLM."""
    from pmg_engine.implicit import StyleProbe, load_module

    module = load_module(BUILTIN_IMPLICIT)
    assert module.config.text_space == "sentence-transformers/all-MiniLM-L6-v2"
    assert module.config.text_width == 384
    assert (module.config.num_layers, module.config.hidden_size) == (30, 576)
    probe = StyleProbe.load(BUILTIN_IMPLICIT)
    assert probe is not None
    assert len(probe.styles) == 7


@pytest.mark.slow
def test_shipped_module_reads_a_black_and_white_taste_from_chat() -> None:
    """With the real SmolLM2, a user who asks for black line drawings gets a black look."""
    from pmg_engine.implicit import SoftPromptEmbedder

    folder = Path("data/models/smollm2-135m-instruct")
    if not (folder / "config.json").is_file():
        pytest.skip("run `pmg models prepare` first")
    embedder = SoftPromptEmbedder.load(BUILTIN_IMPLICIT, llm_dir=folder)
    history = [
        'User said: "honestly just the black lines, leave the inside empty"',
        'User asked for a sticker of "owl"',
        'User said: "pen sketches without any colour are my thing"',
        'User liked a sticker of "fox" with fox',
    ]
    tokens = embedder.embed(history)
    assert tokens.shape == (4, 384)
    guess = embedder.style_guess(tokens)
    assert guess is not None
    assert guess.style in {"openmoji-black", "fluent-high-contrast"}
