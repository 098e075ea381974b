"""The reference index: what it ships (train split, licence-compatible sets, size cap), search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pmg_engine.corpus import load_manifest
from pmg_engine.reference import (
    ReferenceIndex,
    ReferenceIndexError,
    ReferenceIndexTooLargeError,
    build_reference_index,
)
from tests.reference.synthetic import SIZE, hash_embed, write_corpus


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A synthetic corpus manifest with its renderings."""
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def index_dir(manifest: Path, tmp_path: Path) -> Path:
    """The index of the synthetic corpus, built with default styles."""
    build_reference_index(manifest, tmp_path / "index", embed=hash_embed)
    return tmp_path / "index"


def test_build_writes_compact_index(index_dir: Path) -> None:
    """The folder holds packed thumbnails, items, fp16 caption vectors, index.json and a card."""
    names = {p.name for p in index_dir.iterdir()}
    assert names == {"index.json", "items.jsonl", "thumbnails.npz", "embeddings.npy", "README.md"}
    meta = json.loads((index_dir / "index.json").read_text())
    assert meta["items"] == 12
    assert meta["concepts"] == 5
    assert meta["split"] == "train"
    assert meta["thumbnail"] == {"size": SIZE, "mode": "RGBA", "encoding": "png-palette-256"}
    assert meta["sources"]["twemoji"]["licence"] == "CC-BY-4.0"
    assert meta["sources"]["noto"]["package"] == "noto-package@1.0.0"
    vectors = np.load(index_dir / "embeddings.npy")
    assert vectors.dtype == np.float16
    assert vectors.shape == (meta["captions"], 64)
    index = ReferenceIndex.load(index_dir, embed=hash_embed)
    thumb = index.thumbnail(0)
    assert thumb.mode == "RGBA"
    assert thumb.size == (SIZE, SIZE)
    assert thumb.getpixel((SIZE // 2, SIZE // 2))[3] == 255
    assert thumb.getpixel((0, 0))[3] == 0


def test_only_train_renderings_are_indexed(manifest: Path, index_dir: Path) -> None:
    """Held-out renderings (style-heldout, val, test) never enter the index."""
    ids = {json.loads(line)["id"] for line in (index_dir / "items.jsonl").read_text().splitlines()}
    by_id = {item.id: item for item in load_manifest(manifest)}
    assert ids
    assert all(by_id[i].split == "train" for i in ids)
    assert "noto/1F436" not in ids  # held out in that style
    assert not any(i.endswith("/1F680") for i in ids)  # a test concept


def test_openmoji_is_left_out_by_default(index_dir: Path, manifest: Path, tmp_path: Path) -> None:
    """OpenMoji (CC BY-SA) is excluded unless named, and the card says why."""
    meta = json.loads((index_dir / "index.json").read_text())
    assert "openmoji" not in meta["by_style"]
    assert "openmoji" in meta["excluded_styles"]
    assert "share-alike" in (index_dir / "README.md").read_text()
    build_reference_index(
        manifest, tmp_path / "with", styles=("twemoji", "openmoji"), embed=hash_embed
    )
    named = json.loads((tmp_path / "with" / "index.json").read_text())
    assert set(named["by_style"]) == {"twemoji", "openmoji"}
    assert named["sources"]["openmoji"]["share_alike"] is True


def test_size_cap_is_enforced(manifest: Path, tmp_path: Path) -> None:
    """An index over max_bytes raises and leaves the previous index in place."""
    out = tmp_path / "index"
    build_reference_index(manifest, out, embed=hash_embed)
    before = (out / "index.json").read_bytes()
    noisy = write_corpus(tmp_path / "noisy", noise=True)
    with pytest.raises(ReferenceIndexTooLargeError, match="over the cap"):
        build_reference_index(noisy, out, colors=None, max_bytes=60_000, embed=hash_embed)
    assert (out / "index.json").read_bytes() == before
    assert not (tmp_path / ".index.tmp").exists()


def test_unknown_style_is_refused(manifest: Path, tmp_path: Path) -> None:
    """A style without a known licence cannot be shipped."""
    with pytest.raises(ValueError, match="no known licence"):
        build_reference_index(manifest, tmp_path / "x", styles=("mystery",), embed=hash_embed)


def test_nearest_honours_the_style(index_dir: Path) -> None:
    """The nearest item is the matching concept in the asked style, else in any style."""
    index = ReferenceIndex.load(index_dir, embed=hash_embed)
    [cat] = index.nearest("a cat", style="noto")
    assert (cat.concept, cat.style) == ("1F431", "noto")
    assert cat.score > 0
    assert cat.image.size == (SIZE, SIZE)
    # noto's dog is held out, so a noto item of another concept comes first.
    dog = index.nearest("dog", style="noto", k=2)
    assert all(item.style == "noto" for item in dog)
    # OpenMoji is not in the index: any style, one rendering per concept.
    picks = index.nearest("dog face", style="openmoji", k=3)
    assert picks[0].concept == "1F436"
    assert len({item.concept for item in picks}) == 3
    assert index.nearest("coffee")[0].concept == "2615"


def test_nearest_validates_its_arguments(index_dir: Path) -> None:
    """An empty target or a bad k is a ValueError naming the argument."""
    index = ReferenceIndex.load(index_dir, embed=hash_embed)
    with pytest.raises(ValueError, match="target_text"):
        index.nearest("  ")
    with pytest.raises(ValueError, match="k must"):
        index.nearest("cat", k=0)


def test_missing_index_is_one_clear_error(tmp_path: Path) -> None:
    """Loading a folder without an index says how to build one."""
    with pytest.raises(ReferenceIndexError, match="pmg data reference-index"):
        ReferenceIndex.load(tmp_path / "nothing", embed=hash_embed)


def test_real_minilm_finds_the_concept(manifest: Path, tmp_path: Path) -> None:
    """With all-MiniLM-L6-v2 from the wheel, a paraphrase finds the right concept."""
    from pmg_engine.reference import minilm_embedder

    embed = minilm_embedder()
    build_reference_index(manifest, tmp_path / "index", embed=embed)
    index = ReferenceIndex.load(tmp_path / "index", embed=embed)
    assert index.nearest("a cup of coffee", style="twemoji")[0].concept == "2615"
    assert index.nearest("kitten")[0].concept == "1F431"


def test_command_builds_the_index(manifest: Path, tmp_path: Path) -> None:
    """`pmg data reference-index` writes the index and prints its counts and size."""
    from click.testing import CliRunner

    from pmg_engine.reference.cli import reference_index

    out = tmp_path / "built"
    args = ["--corpus", str(manifest.parent), "--out", str(out), "--style", "noto"]
    result = CliRunner().invoke(reference_index, args)
    assert result.exit_code == 0, result.output
    assert "noto" in result.output
    assert "MiB" in result.output
    assert json.loads((out / "index.json").read_text())["by_style"] == {"noto": 4}
    missing = CliRunner().invoke(
        reference_index, ["--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1
    assert "pmg data build" in missing.output
