"""The fixed, versioned evaluation set: held-out renderings, prompts, distractors and seeds.

The set is a JSON file committed beside this module (``sets/``), made once from a corpus by
``pmg eval make-set`` and never re-drawn at run time, so the prompts do not move when a machine
builds a different corpus. Every evaluation names the set's version and digest and the
fingerprint of the corpus it ran on (``RunIdentity``); figures are compared only between runs
with the same identity (``check_comparable``). Later evaluations reuse the set through
``load_eval_set`` and ``run_identity``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmg_engine.corpus.manifest import CorpusItem
from pmg_engine.errors import PMGError

SETS_DIR = Path(__file__).resolve().parent / "sets"
DEFAULT_EVAL_SET = SETS_DIR / "heldout-v1.json"
EVAL_SET_NAME = "pmg-heldout"


class EvalSetError(PMGError):
    """The evaluation set cannot be read, or the corpus lacks renderings it names."""


class NotComparableError(PMGError):
    """Two evaluation results were measured on different sets, corpora or settings."""


@dataclass(frozen=True)
class EvalPrompt:
    """One generator prompt: a held-out rendering's styled caption, its seed, its distractors."""

    id: str
    caption: str
    prompt: str
    seed: int
    distractors: tuple[str, ...]

    @property
    def style(self) -> str:
        """The style the prompt asks for (ids are ``style/concept``)."""
        return self.id.split("/", 1)[0]

    @property
    def concept(self) -> str:
        """The concept key the prompt names."""
        return self.id.split("/", 1)[1]

    @property
    def texts(self) -> tuple[str, ...]:
        """The prompt first, then its distractors: what each image is ranked against."""
        return (self.prompt, *self.distractors)


@dataclass(frozen=True)
class EvalSet:
    """A loaded evaluation set; ``digest`` covers its content, whatever the file's layout."""

    name: str
    version: int
    digest: str
    made_on_corpus: str
    scorer_split: str
    scorer_ids: tuple[str, ...]
    captions: Mapping[str, str]
    prompts: tuple[EvalPrompt, ...]
    num_distractors: int

    @property
    def label(self) -> str:
        """``name vN (digest)``, as every run prints it."""
        return f"{self.name} v{self.version} ({self.digest})"


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs' figures comparable: the set's version and digest, and the corpus."""

    eval_set: str
    version: int
    digest: str
    corpus_fingerprint: str
    set_corpus_fingerprint: str

    @property
    def corpus_matches_set(self) -> bool:
        """Whether the corpus is the one the set was made on (the model cards' corpus)."""
        return self.corpus_fingerprint == self.set_corpus_fingerprint

    def lines(self) -> list[str]:
        """Return the two lines every run prints before its figures."""
        same = (
            "the corpus the set was made on"
            if self.corpus_matches_set
            else f"NOT the set's corpus {self.set_corpus_fingerprint}: figures differ from the "
            "model cards'"
        )
        return [
            f"evaluation set: {self.eval_set} v{self.version} ({self.digest})",
            f"corpus fingerprint: {self.corpus_fingerprint} ({same})",
        ]

    def to_json(self) -> dict[str, Any]:
        """Return the identity as plain JSON values, as results record it."""
        return {
            "eval_set": {"name": self.eval_set, "version": self.version, "digest": self.digest},
            "corpus": {
                "fingerprint": self.corpus_fingerprint,
                "set_made_on": self.set_corpus_fingerprint,
            },
        }


def content_digest(data: Mapping[str, Any]) -> str:
    """Return 16 hex digits of the canonical JSON of a set's content."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _parse(data: Mapping[str, Any]) -> EvalSet:
    captions: dict[str, str] = dict(data["captions"])
    texts: dict[str, str] = dict(data["prompt_texts"])
    generator = data["generator"]
    prompts = tuple(
        EvalPrompt(
            id=case["id"],
            caption=captions[case["id"]],
            prompt=texts[case["id"]],
            seed=int(case["seed"]),
            distractors=tuple(texts[other] for other in case["distractors"]),
        )
        for case in generator["prompts"]
    )
    scorer_ids = tuple(data["scorer"]["ids"])
    for item_id in scorer_ids:
        if item_id not in captions:
            raise KeyError(item_id)
    return EvalSet(
        name=str(data["name"]),
        version=int(data["version"]),
        digest=content_digest(data),
        made_on_corpus=str(data["made_on_corpus"]),
        scorer_split=str(data["scorer"]["split"]),
        scorer_ids=scorer_ids,
        captions=captions,
        prompts=prompts,
        num_distractors=int(generator["num_distractors"]),
    )


def load_eval_set(path: Path = DEFAULT_EVAL_SET) -> EvalSet:
    """Return the evaluation set stored at ``path`` (the committed one by default)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _parse(data)
    except OSError as error:
        raise EvalSetError(f"cannot read the evaluation set {path}: {error.strerror}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise EvalSetError(
            f"{path} is not an evaluation set written by `pmg eval make-set` ({error!r})"
        ) from error


def eval_set_data(
    *,
    version: int,
    made_on_corpus: str,
    scorer_items: Sequence[CorpusItem],
    scorer_split: str,
    prompts: Sequence[tuple[CorpusItem, Sequence[CorpusItem]]],
    num_distractors: int,
    name: str = EVAL_SET_NAME,
) -> dict[str, Any]:
    """Return the JSON content of a set: prompt items with their distractor items, in order.

    Prompt ``i`` gets seed ``i``; captions and styled captions are stored, so the set does not
    depend on how a later corpus words or colours them.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive int, got {version!r}")
    # Captions are what the scorer retrieves by and what references are looked up by; styled
    # captions are what the generator is prompted with and ranked against.
    captioned = {item.id: item for item in (*scorer_items, *(p for p, _ in prompts))}
    styled = {
        item.id: item for item in (*(p for p, _ in prompts), *(d for _, ds in prompts for d in ds))
    }
    return {
        "name": name,
        "version": version,
        "made_on_corpus": made_on_corpus,
        "scorer": {"split": scorer_split, "ids": [item.id for item in scorer_items]},
        "generator": {
            "num_distractors": num_distractors,
            "prompts": [
                {"id": item.id, "seed": seed, "distractors": [d.id for d in distractors]}
                for seed, (item, distractors) in enumerate(prompts)
            ],
        },
        "captions": {item_id: captioned[item_id].caption for item_id in sorted(captioned)},
        "prompt_texts": {item_id: styled[item_id].styled_caption for item_id in sorted(styled)},
    }


def write_eval_set(path: Path, data: Mapping[str, Any]) -> None:
    """Write a set's content as JSON, one entry a line where it helps a diff."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def resolve_items(
    eval_set: EvalSet, items: Sequence[CorpusItem], ids: Sequence[str]
) -> list[CorpusItem]:
    """Return the corpus items of ``ids``; one sentence naming the missing styles otherwise."""
    by_id = {item.id: item for item in items}
    missing = [item_id for item_id in ids if item_id not in by_id]
    if missing:
        styles = sorted({item_id.split("/", 1)[0] for item_id in missing})
        raise EvalSetError(
            f"the corpus lacks {len(missing)} renderings of the evaluation set "
            f"{eval_set.label}, e.g. {missing[0]} (styles: {', '.join(styles)}): build the "
            "corpus with every style (`pmg data build`, without --allow-missing-style)"
        )
    return [by_id[item_id] for item_id in ids]


def run_identity(eval_set: EvalSet, corpus_dir: Path) -> RunIdentity:
    """Return the identity of a run of ``eval_set`` on the corpus in ``corpus_dir``."""
    from pmg_engine.corpus.fingerprint import corpus_fingerprint

    return RunIdentity(
        eval_set=eval_set.name,
        version=eval_set.version,
        digest=eval_set.digest,
        corpus_fingerprint=corpus_fingerprint(corpus_dir),
        set_corpus_fingerprint=eval_set.made_on_corpus,
    )


def check_comparable(first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
    """Raise ``NotComparableError`` unless two results share set, corpus and settings.

    ``first`` and ``second`` are result JSON objects that recorded ``RunIdentity.to_json()``
    and their ``settings``; a result without them is never comparable.
    """
    checks = (
        ("evaluation set version", ("eval_set", "version")),
        ("evaluation set digest", ("eval_set", "digest")),
        ("corpus fingerprint", ("corpus", "fingerprint")),
    )
    for what, (section, key) in checks:
        a, b = _get(first, section, key), _get(second, section, key)
        if a is None or b is None:
            raise NotComparableError(
                f"a result records no {what}: it predates the versioned evaluation set, so its "
                "figures are not comparable"
            )
        if a != b:
            raise NotComparableError(
                f"the results were measured with different {what}s ({a} and {b}), so their "
                "figures are not comparable"
            )
    if first.get("settings") != second.get("settings"):
        raise NotComparableError(
            "the results were measured with different settings "
            f"({first.get('settings')} and {second.get('settings')}), so their figures are not "
            "comparable"
        )


def _get(data: Mapping[str, Any], section: str, key: str) -> Any:
    part = data.get(section)
    return part.get(key) if isinstance(part, Mapping) else None
