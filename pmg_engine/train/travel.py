"""Pack what a training run reads into a folder small enough to carry to a lent GPU machine.

The GPU machines this project is lent reach no registry or hub and take at most 64 MiB of files
along (DESIGN.md §5, training budget). Training reads two things that are bigger than
that together: the corpus (only its 64 px renderings of the splits training touches are needed)
and all-MiniLM-L6-v2 (87 MB in fp32, half of it the embeddings of 30,522 word pieces our captions
mostly never use). ``pack`` writes both, cut down: the 64 px files as lossless WebP with their
manifest lines, in one archive, and MiniLM in fp16 with only the word-piece rows the captions need.
``unpack`` rebuilds an ordinary corpus folder and an fp32 model folder from it. The rows left
out become NaN, so a text that needs one poisons its states and fails the text cache's check
instead of training on zeros.
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from pmg_engine.corpus.manifest import MANIFEST_NAME, CorpusItem, write_manifest
from pmg_engine.models.minilm import minilm_dir
from pmg_engine.train.data import load_items
from pmg_engine.train.prompts import all_texts, sample_prompts

logger = logging.getLogger(__name__)

# What the autoencoder, scorer and generator read: training items plus the held-out ones they
# preview and measure on.
PACK_SPLITS = ("train", "style-heldout", "val")
WEIGHTS_NAME = "model.safetensors"
KEPT_IDS_KEY = "pmg.kept_ids"
CORPUS_ARCHIVE = "corpus.zip"


@dataclass(frozen=True)
class PackSummary:
    """What went into a pack and its size."""

    items: int
    texts: int
    kept_word_pieces: int
    vocab_size: int
    total_bytes: int


def pack_texts(items: Sequence[CorpusItem]) -> list[str]:
    """Return every text training may encode for ``items`` (captions, styles, sample prompts)."""
    held_out = [item for item in items if item.split in ("style-heldout", "val")]
    return sorted({*all_texts(items), *sample_prompts(held_out)})


def _word_embedding_key(names: Iterable[str]) -> str:
    keys = [name for name in names if name.endswith("word_embeddings.weight")]
    if len(keys) != 1:
        raise ValueError(f"expected one word-embedding matrix in MiniLM, found {keys}")
    return keys[0]


def pack_minilm(texts: Sequence[str], out_dir: Path, source: Path | None = None) -> tuple[int, int]:
    """Write MiniLM in fp16 with only the word pieces ``texts`` need; return (kept, vocab)."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    source = source or minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    used: set[int] = set(tokenizer.all_special_ids)
    for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]:
        used.update(ids)
    kept = torch.tensor(sorted(used), dtype=torch.int64)
    weights = load_file(str(source / WEIGHTS_NAME))
    key = _word_embedding_key(weights)
    vocab = int(weights[key].shape[0])
    packed = {name: tensor.half().contiguous() for name, tensor in weights.items()}
    packed[key] = weights[key][kept].half().contiguous()
    packed[KEPT_IDS_KEY] = kept
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        # Configuration and tokenizer files travel as they are; only the weights are cut.
        if path.name == WEIGHTS_NAME or path.name.startswith("README"):
            continue
        target = out_dir / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)
    meta = {"pmg": json.dumps({"word_embeddings": key, "vocab_size": vocab})}
    save_file(packed, str(out_dir / WEIGHTS_NAME), metadata=meta)
    return len(kept), vocab


def unpack_minilm(pack_dir: Path, out_dir: Path) -> Path:
    """Rebuild an fp32 MiniLM folder from ``pack_minilm``'s output; missing rows are NaN."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(pack_dir / WEIGHTS_NAME), framework="pt") as handle:
        meta = json.loads(handle.metadata()["pmg"])
    packed = load_file(str(pack_dir / WEIGHTS_NAME))
    kept = packed.pop(KEPT_IDS_KEY)
    key = str(meta["word_embeddings"])
    rows = packed[key]
    full = torch.full((int(meta["vocab_size"]), rows.shape[1]), float("nan"))
    full[kept] = rows.float()
    weights = {name: tensor.float().contiguous() for name, tensor in packed.items()}
    weights[key] = full
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(pack_dir, out_dir, ignore=shutil.ignore_patterns(WEIGHTS_NAME))
    save_file(weights, str(out_dir / WEIGHTS_NAME), metadata={"format": "pt"})
    return out_dir


def _packed_name(path: str) -> str:
    return str(Path(path).with_suffix(".webp"))


def _to_webp(job: tuple[Path, Path]) -> None:
    # Lossless WebP: 30 % smaller than the PNGs; `exact` keeps colour under transparent pixels.
    from PIL import Image

    source, target = job
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGBA").save(target, "WEBP", lossless=True, quality=100, method=6, exact=True)


def pack(
    corpus_dir: Path,
    out_dir: Path,
    *,
    splits: Sequence[str] = PACK_SPLITS,
    size: int = 64,
    minilm_source: Path | None = None,
) -> PackSummary:
    """Write ``out_dir/corpus.zip`` (``size`` px files of ``splits``) and ``out_dir/minilm``."""
    items = load_items(corpus_dir, splits)
    missing = [item.id for item in items if size not in item.paths]
    if missing:
        raise ValueError(f"{len(missing)} items have no {size} px rendering, e.g. {missing[0]}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging = out_dir / "corpus"
    jobs = [
        (corpus_dir / item.paths[size], staging / _packed_name(item.paths[size])) for item in items
    ]
    with ProcessPoolExecutor() as pool:
        list(pool.map(_to_webp, jobs, chunksize=64))
    # Manifest lines name only the renderings that travel.
    carried = [
        CorpusItem.from_json(
            {**item.to_json(), "paths": {str(size): _packed_name(item.paths[size])}}
        )
        for item in items
    ]
    write_manifest(staging / MANIFEST_NAME, carried)
    # One archive: the transfer limit counts thousands of 2 KB files by their disk blocks. The
    # images are stored as they are (WebP is compressed), the 5 MB of manifest JSON deflated.
    with zipfile.ZipFile(out_dir / CORPUS_ARCHIVE, "w") as archive:
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            method = zipfile.ZIP_DEFLATED if path.name == MANIFEST_NAME else zipfile.ZIP_STORED
            archive.write(path, path.relative_to(staging).as_posix(), compress_type=method)
    shutil.rmtree(staging)
    texts = pack_texts(items)
    kept, vocab = pack_minilm(texts, out_dir / "minilm", minilm_source)
    total = sum(path.stat().st_size for path in out_dir.rglob("*") if path.is_file())
    return PackSummary(
        items=len(items),
        texts=len(texts),
        kept_word_pieces=kept,
        vocab_size=vocab,
        total_bytes=total,
    )


def unpack(pack_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Extract the pack's corpus and rebuild its MiniLM under ``out_dir``; return both folders."""
    archive_path = pack_dir / CORPUS_ARCHIVE
    if not archive_path.is_file():
        raise FileNotFoundError(f"{pack_dir} is not a training pack: no {CORPUS_ARCHIVE}")
    corpus = out_dir / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(corpus)
    minilm = unpack_minilm(pack_dir / "minilm", out_dir / "minilm")
    return corpus, minilm
