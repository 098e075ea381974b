"""The versioned evaluation set: round trip, digest, the committed set, comparability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmg_engine.corpus import CorpusItem
from pmg_engine.corpus.fingerprint import corpus_fingerprint
from pmg_engine.eval.evalset import (
    DEFAULT_EVAL_SET,
    EvalSet,
    EvalSetError,
    NotComparableError,
    check_comparable,
    load_eval_set,
    resolve_items,
    run_identity,
)


def test_round_trip_keeps_prompts_seeds_and_texts(
    eval_set: EvalSet, items: list[CorpusItem]
) -> None:
    """A written set loads back with its prompts in order, seeds 0..N-1 and stored texts."""
    by_id = {item.id: item for item in items}
    assert [p.seed for p in eval_set.prompts] == list(range(8))
    for prompt in eval_set.prompts:
        assert prompt.prompt == by_id[prompt.id].styled_caption
        assert prompt.caption == by_id[prompt.id].caption
        assert (prompt.style, prompt.concept) == (by_id[prompt.id].style, by_id[prompt.id].concept)
        assert len(prompt.distractors) == eval_set.num_distractors == 1
    assert set(eval_set.scorer_ids) == {i.id for i in items if i.split == "style-heldout"}


def test_digest_ignores_layout_but_not_content(eval_set_path: Path, tmp_path: Path) -> None:
    """Reformatting the file keeps the digest; changing one caption changes it."""
    data = json.loads(eval_set_path.read_text())
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(data, separators=(",", ":")))
    assert load_eval_set(compact).digest == load_eval_set(eval_set_path).digest
    first = next(iter(data["captions"]))
    data["captions"][first] += " edited"
    compact.write_text(json.dumps(data))
    assert load_eval_set(compact).digest != load_eval_set(eval_set_path).digest


def test_bad_file_is_one_sentence(tmp_path: Path) -> None:
    """A missing or malformed set is an EvalSetError naming the file."""
    with pytest.raises(EvalSetError, match="cannot read"):
        load_eval_set(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x"}')
    with pytest.raises(EvalSetError, match="not an evaluation set"):
        load_eval_set(broken)


def test_committed_set_is_version_1_of_the_model_cards() -> None:
    """The shipped set has 200 prompts with 19 distractors and the 1,727 scorer renderings."""
    shipped = load_eval_set()
    assert DEFAULT_EVAL_SET.is_file()
    assert (shipped.name, shipped.version) == ("pmg-heldout", 1)
    assert len(shipped.prompts) == 200
    assert {len(p.distractors) for p in shipped.prompts} == {19}
    assert len(shipped.scorer_ids) == 1727
    assert len({p.style for p in shipped.prompts}) == 7
    assert [p.seed for p in shipped.prompts] == list(range(200))


def test_missing_renderings_name_their_styles(eval_set: EvalSet, items: list[CorpusItem]) -> None:
    """A corpus without one style cannot run the set; the sentence names the style."""
    without = [item for item in items if item.style != "noto"]
    with pytest.raises(EvalSetError, match=r"styles: noto\).*pmg data build"):
        resolve_items(eval_set, without, eval_set.scorer_ids)


def test_identity_names_set_and_corpus(eval_set: EvalSet, corpus_dir: Path) -> None:
    """A run's identity carries the set's version and digest and the corpus fingerprint."""
    identity = run_identity(eval_set, corpus_dir)
    assert identity.corpus_fingerprint == corpus_fingerprint(corpus_dir)
    assert identity.corpus_matches_set
    lines = identity.lines()
    assert lines[0] == f"evaluation set: pmg-heldout v1 ({eval_set.digest})"
    assert identity.corpus_fingerprint in lines[1]


def _result(version: int = 1, corpus: str = "abc", steps: int = 20) -> dict[str, object]:
    return {
        "eval_set": {"name": "pmg-heldout", "version": version, "digest": f"d{version}"},
        "corpus": {"fingerprint": corpus},
        "settings": {"num_inference_steps": steps},
        "figures": {"x": 0.5},
    }


def test_only_same_set_corpus_and_settings_compare() -> None:
    """Results compare only with equal set version, corpus and settings; older ones never."""
    check_comparable(_result(), _result())
    with pytest.raises(NotComparableError, match="evaluation set version"):
        check_comparable(_result(1), _result(2))
    with pytest.raises(NotComparableError, match="corpus fingerprint"):
        check_comparable(_result(corpus="abc"), _result(corpus="def"))
    with pytest.raises(NotComparableError, match="settings"):
        check_comparable(_result(steps=20), _result(steps=10))
    with pytest.raises(NotComparableError, match="predates"):
        check_comparable({"figures": {}}, _result())
