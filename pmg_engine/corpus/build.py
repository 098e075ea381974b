"""``build_corpus``: fetch the emoji sets, render every concept in every style, write the manifest.

Imports only the standard library at module level; Pillow, cairo and numpy load when a build
runs, so the ``pmg`` command line stays quick to start (STYLE.md 1).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pmg_engine.corpus.captions import Concept, load_concepts
from pmg_engine.corpus.fingerprint import corpus_fingerprint
from pmg_engine.corpus.manifest import MANIFEST_NAME, CorpusItem, write_json_atomic, write_manifest
from pmg_engine.corpus.packages import EMOJIBASE, NpmPackage, check_license, fetch_package
from pmg_engine.corpus.sources import (
    DEFAULT_SOURCE_SETS,
    MissingStyleError,
    ResolvedSet,
    SourceSet,
    check_font,
    resolve_set,
    styles_of,
)
from pmg_engine.corpus.split import SPLITS, item_split
from pmg_engine.errors import PMGError

if TYPE_CHECKING:
    from pmg_engine.corpus.render import RenderJob, RenderResult

logger = logging.getLogger(__name__)

# Bump when rendering changes: it is part of every render path, so old files are not reused.
RENDER_VERSION = 1
SUMMARY_NAME = "summary.json"


class CorpusSourceError(PMGError):
    """A package the corpus cannot do without (emojibase, or a style not allowed to be missing)."""


@dataclass(frozen=True)
class CorpusSummary:
    """Counts of a build: items per style and split, and how many renders were reused."""

    manifest_path: Path
    items: int
    by_style: dict[str, int]
    by_split: dict[str, int]
    sources: dict[str, str]
    skipped_styles: tuple[str, ...]
    rendered: int = 0
    reused: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""


def _check_styles(sources: Sequence[SourceSet], allow_missing: Collection[str]) -> None:
    styles = styles_of(sources)
    unknown = sorted(set(allow_missing) - set(styles))
    if unknown:
        raise ValueError(f"allow_missing names styles {unknown} that are not among {styles}")
    # Fonts first: checking a file is instant, fetching the packages takes minutes.
    for source in sources:
        if source.style not in allow_missing:
            try:
                check_font(source)
            except MissingStyleError as error:
                raise CorpusSourceError(str(error)) from error


def _check_inputs(sizes: tuple[int, ...], workers: int, limit: int | None) -> None:
    if not sizes or any(not isinstance(s, int) or s < 8 or s > 1024 for s in sizes):
        raise ValueError(f"sizes must be pixel sizes between 8 and 1024, got {sizes!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must not repeat, got {sizes!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of concepts or None, got {limit!r}")


def _run_jobs(jobs: list[RenderJob], workers: int) -> Iterator[RenderResult]:
    from tqdm import tqdm

    from pmg_engine.corpus.render import run_job

    bar = tqdm(total=len(jobs), desc="rendering", unit="img", smoothing=0.05)
    if workers == 1 or len(jobs) < 2 * workers:
        for job in jobs:
            yield run_job(job)
            bar.update()
    else:
        # "spawn" because the caller may hold threads (a bot, a worker) that fork would copy.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            # imap keeps job order, so the manifest does not depend on which worker ran what.
            for result in pool.imap(run_job, jobs, chunksize=8):
                yield result
                bar.update()
    bar.close()


def build_corpus(
    *,
    out_dir: Path,
    cache_dir: Path,
    sizes: tuple[int, ...] = (64, 128),
    workers: int = 2,
    limit: int | None = None,
    sources: Sequence[SourceSet] = DEFAULT_SOURCE_SETS,
    emojibase: NpmPackage = EMOJIBASE,
    allow_missing: Collection[str] = (),
) -> CorpusSummary:
    """Render every set of ``sources`` into ``out_dir`` and write ``manifest.jsonl`` beside them.

    A set that cannot be obtained stops the build with ``CorpusSourceError`` (one sentence
    naming the fix) unless its style is in ``allow_missing``: a build never quietly drops a
    style, which would change the splits and every figure measured on them. Renders already
    present for the same set version and render version are reused; the manifest and
    ``summary.json`` are byte-identical for identical inputs.
    """
    from pmg_engine.corpus.render import RenderJob

    _check_inputs(sizes, workers, limit)
    _check_styles(sources, allow_missing)
    # 1. Concepts, captions and groups from emojibase; without them nothing can be named.
    emojibase_dir = fetch_package(emojibase, cache_dir)
    if emojibase_dir is None or not check_license(emojibase, emojibase_dir):
        raise CorpusSourceError(
            f"{emojibase.spec} could not be fetched into {cache_dir}; the log above says why."
        )
    concepts = load_concepts(emojibase_dir)[:limit]
    by_key = {concept.key: concept for concept in concepts}
    glyphs = {concept.key: concept.emoji for concept in concepts}
    # 2. Fetch each set and find its artwork for our concepts.
    resolved: list[ResolvedSet] = []
    skipped: list[str] = []
    for source in sources:
        try:
            found = resolve_set(source, cache_dir=cache_dir, glyphs=glyphs)
        except MissingStyleError as error:
            if source.style not in allow_missing:
                raise CorpusSourceError(str(error)) from error
            logger.warning("building without style %s, as allowed: %s", source.style, error)
            skipped.append(source.style)
            continue
        logger.info("style %s: %d of %d concepts", source.style, len(found.artworks), len(glyphs))
        resolved.append(found)
    # 3. One render job per (style, concept); paths carry the set and render versions.
    for stale in sorted((out_dir / "images").glob("*/*/*/.tmp-*")):
        stale.unlink()  # left by an interrupted build; never a finished render
    jobs: list[RenderJob] = []
    planned: dict[str, tuple[ResolvedSet, Concept, dict[int, str]]] = {}
    for found in resolved:
        folder = Path("images") / found.source.style / f"{found.version}-r{RENDER_VERSION}"
        for key, artwork in sorted(found.artworks.items()):
            item_id = f"{found.source.style}/{key}"
            rel = {size: (folder / f"{size}px" / f"{key}.png").as_posix() for size in sizes}
            outputs = tuple((size, str(out_dir / path)) for size, path in sorted(rel.items()))
            jobs.append(RenderJob(item_id=item_id, artwork=artwork, outputs=outputs))
            planned[item_id] = (found, by_key[key], rel)
    # 4. Render (or reuse) in a pool; results come back in job order.
    results = list(_run_jobs(jobs, workers))
    for failed in (result for result in results if result.error):
        logger.warning("could not render %s: %s", failed.item_id, failed.error)
    statuses = Counter(result.status for result in results)
    missing = Counter(r.item_id.split("/")[0] for r in results if r.status == "missing")
    # 5. Split on the styles that actually rendered each concept, then write the manifest.
    done = [result for result in results if result.status != "missing"]
    styles_by_concept: dict[str, list[str]] = defaultdict(list)
    for result in done:
        found, concept, _ = planned[result.item_id]
        styles_by_concept[concept.key].append(found.source.style)
    items = []
    for result in done:
        found, concept, rel = planned[result.item_id]
        style = found.source.style
        items.append(
            CorpusItem(
                id=result.item_id,
                concept=concept.key,
                hexcode=concept.hexcode,
                emoji=concept.emoji,
                label=concept.label,
                caption=concept.caption,
                style=style,
                source=found.origin,
                visual_words=result.visual_words,
                group=concept.group,
                subgroup=concept.subgroup,
                split=item_split(concept.key, style, styles_by_concept[concept.key]),
                paths=rel,
            )
        )
    manifest_path = out_dir / MANIFEST_NAME
    write_manifest(manifest_path, items)
    # 6. A summary without timings or cache counts, so that it is as reproducible as the manifest.
    summary = CorpusSummary(
        manifest_path=manifest_path,
        items=len(items),
        by_style=dict(sorted(Counter(item.style for item in items).items())),
        by_split={split: sum(item.split == split for item in items) for split in SPLITS},
        sources={found.source.style: found.origin for found in resolved},
        skipped_styles=tuple(skipped),
        rendered=statuses["rendered"],
        reused=statuses["reused"],
        missing=dict(sorted(missing.items())),
        fingerprint=corpus_fingerprint(out_dir),
    )
    record = {
        "fingerprint": summary.fingerprint,
        "items": summary.items,
        "by_style": summary.by_style,
        "by_split": summary.by_split,
        "sources": summary.sources,
        "skipped_styles": list(summary.skipped_styles),
        "missing": summary.missing,
        "sizes": sorted(sizes),
        "render_version": RENDER_VERSION,
    }
    write_json_atomic(out_dir / SUMMARY_NAME, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return summary
