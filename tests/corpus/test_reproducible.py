"""The real corpus, built twice in clean folders from the pinned sets: the same items and pixels.

This runs on every machine the tests run on, CI included, with the fonts that
``scripts/setup.sh`` installs: a machine that cannot build all seven styles fails here rather
than quietly evaluating on a different corpus. Only the first concepts are built, so it is quick;
packages are fetched with npm once into the default cache (``data/cache/sources``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmg_engine.corpus import build_corpus
from pmg_engine.corpus.fingerprint import ItemPrint, item_prints
from pmg_engine.corpus.packages import DEFAULT_CACHE_DIR
from pmg_engine.corpus.sources import DEFAULT_SOURCE_SETS, styles_of

LIMIT = 12
EXPECTED = Path(__file__).with_name("expected_first_concepts.json")
# The repository's own package cache, wherever pytest is started from.
CACHE = Path(__file__).resolve().parents[2] / DEFAULT_CACHE_DIR


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ItemPrint], ...]:
    """Item prints (id, split, 64 px pixel hash) of two builds of the first concepts."""
    prints = []
    for workers in (1, 2):
        out = tmp_path_factory.mktemp(f"corpus-{workers}")
        build_corpus(out_dir=out, cache_dir=CACHE, workers=workers, limit=LIMIT)
        prints.append(item_prints(out))
    return tuple(prints)


def test_two_clean_builds_give_identical_manifests(
    two_builds: tuple[list[ItemPrint], ...],
) -> None:
    """Ids, splits and 64 px pixel hashes agree between a serial and a pooled build."""
    first, second = two_builds
    assert first == second
    assert {item.id.split("/")[0] for item in first} == set(styles_of(DEFAULT_SOURCE_SETS))


def test_build_matches_the_committed_prints(two_builds: tuple[list[ItemPrint], ...]) -> None:
    """This machine renders what the machine that made the evaluation set rendered."""
    expected = {
        row["id"]: ItemPrint(**row) for row in json.loads(EXPECTED.read_text(encoding="utf-8"))
    }
    got = {item.id: item for item in two_builds[0]}
    differ = sorted(
        key for key in got.keys() | expected.keys() if got.get(key) != expected.get(key)
    )
    assert not differ, f"{len(differ)} renderings differ from the committed prints: {differ[:10]}"
