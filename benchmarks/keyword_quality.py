"""Keyword quality on hand-written Discord-like histories: coverage, filler, errors and cost.

Run from the repository root:  nice -n 10 .venv/bin/python benchmarks/keyword_quality.py [--llm]

`benchmarks/data/keyword_hard.json` (written by `data/build_hard_histories.py`) holds 40
histories of 3, 20 and 200 lines; each names 3 true interests (any listed synonym counts) and
the things it speaks of with dislike. Interests are named once or only through emoji, in
paraphrase, slang or another language, among small talk. For each method, over the 8 keywords
of each history:

- coverage: share of the 3 interests that some keyword names (a synonym as whole words, plural
  or not);
- filler: share of keywords made only of chat words that say nothing about taste (the data
  file's own list, kept apart from the extractor's word lists);
- negated: keywords naming a thing the history speaks of with dislike ("I hate clowns");
- crossing: multi-word keywords that do not occur as one run of words inside one clause of one
  message (or one emoji name), i.e. that cross punctuation or a line, or were made up;
- cost: median seconds per history, for each history length.

The easy calibration set (`keyword_histories.json`, every interest repeated) is printed after.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine
from pmg_engine.behaviours import emoji_names, message_events
from pmg_engine.keywords import PreferenceKeywordExtractor
from pmg_engine.keywords.text import STOPWORDS

HARD = Path(__file__).with_name("data") / "keyword_hard.json"
EASY = Path(__file__).with_name("data") / "keyword_histories.json"
NUM = 8
TOKEN_RE = re.compile(r"[^\W_][\w'-]*", re.UNICODE)
CLAUSE_RE = re.compile(r"[.,;:!?()\[\]{}\"<>/|…]+|\s[-\u2013\u2014]+\s|\n")

Extract = Callable[[list[str]], list[str]]


def _norm(token: str) -> str:
    token = token.casefold().strip("'-")
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith("s") and not token.endswith("ss") and len(token) > 3:
        return token[:-1]
    return token


def _tokens(text: str) -> list[str]:
    return [_norm(t) for t in TOKEN_RE.findall(text)]


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack)))


def covered(synonyms: Sequence[str], keywords: Sequence[str]) -> bool:
    """Whether a keyword names the interest: one of its synonyms as whole words."""
    return any(_contains(_tokens(k), _tokens(s)) for k in keywords for s in synonyms)


def is_filler(keyword: str, filler: frozenset[str]) -> bool:
    """Whether every word of the keyword is a chat word that says nothing about taste."""
    tokens = [t.casefold() for t in TOKEN_RE.findall(keyword)]
    return all(t in filler or t in STOPWORDS or _norm(t) in filler for t in tokens)


def clauses(messages: Sequence[str]) -> list[list[str]]:
    """The clauses of the messages (split at punctuation and lines), plus the emoji names."""
    out = [_tokens(part) for m in messages for part in CLAUSE_RE.split(m)]
    out += [_tokens(name) for m in messages for name in emoji_names(m)]
    return [c for c in out if c]


def crosses(keyword: str, parts: Sequence[Sequence[str]]) -> bool:
    """Whether a multi-word keyword is not one run of words inside one clause."""
    tokens = _tokens(keyword)
    return len(tokens) > 1 and not any(_contains(part, tokens) for part in parts)


def negated_hit(keyword: str, case: dict) -> bool:
    """Whether the keyword names a disliked thing (and no interest)."""
    if any(covered(group, [keyword]) for group in case["interests"]):
        return False
    return any(_contains(_tokens(keyword), _tokens(n)) for n in case["negated"])


def word_counter(messages: Sequence[str]) -> list[str]:
    """The baseline: the most frequent non-stopwords (stopwords only, no filler list)."""
    counts = Counter(
        w.casefold() for m in messages for w in TOKEN_RE.findall(m) if w.casefold() not in STOPWORDS
    )
    return [w for w, _ in counts.most_common(NUM) if len(w) > 2 or w.isalpha()][:NUM]


def behaviour_lines(messages: Sequence[str]) -> list[str]:
    """The behaviour lines the service stores for these chat messages."""
    return [e.text for m in messages for e in message_events(m)]


def evaluate(name: str, extract: Extract, cases: list[dict], filler: frozenset[str]) -> dict:
    """Run one method over the cases and print its row."""
    coverage, filler_count, negated, crossing, total = 0.0, 0, 0, 0, 0
    seconds: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for case in cases:
        started, started_cpu = time.perf_counter(), time.process_time()
        keywords = extract(case["messages"])[:NUM]
        seconds.setdefault(case["lines"], []).append(time.perf_counter() - started)
        cpu.setdefault(case["lines"], []).append(time.process_time() - started_cpu)
        groups = case["interests"]
        coverage += sum(covered(g, keywords) for g in groups) / len(groups)
        filler_count += sum(is_filler(k, filler) for k in keywords)
        negated += sum(negated_hit(k, case) for k in keywords)
        parts = clauses(case["messages"])
        crossing += sum(crosses(k, parts) for k in keywords)
        total += len(keywords)
    cost = "  ".join(
        f"{size:>3}: {statistics.median(values):6.2f} ({statistics.median(cpu[size]):6.2f})"
        for size, values in sorted(seconds.items(), key=lambda x: int(x[0]))
    )
    row = {
        "coverage": coverage / len(cases),
        "filler": filler_count / max(total, 1),
        "negated": negated,
        "crossing": crossing,
    }
    print(
        f"  {name:<34} {row['coverage']:8.2f} {row['filler']:7.0%} {negated:8d} {crossing:9d}"
        f"   {cost}"
    )
    return row


def header() -> None:
    print(
        f"  {'method':<34} {'coverage':>8} {'filler':>7} {'negated':>8} {'crossing':>9}"
        "   median s per history by lines: wall (cpu)"
    )


def methods(with_llm: bool) -> list[tuple[str, Extract]]:
    """The rows: the baseline, each candidate method, and the final extractor."""
    rows: list[tuple[str, Extract]] = [("word counter (baseline)", word_counter)]
    try:
        import yake

        kw = yake.KeywordExtractor(lan="en", n=2, top=NUM)

        def yake_raw(messages: list[str]) -> list[str]:
            return [k.casefold() for k, _ in kw.extract_keywords("\n".join(messages))]

        rows.append(("YAKE (library, raw)", yake_raw))
    except ImportError:
        print("  (YAKE is not installed: pip install 'yake==0.7.3' for its row)")
    rules = PreferenceKeywordExtractor(None, num_keywords=NUM)
    rows.append(("clause rules", lambda m: rules.extract(lines=behaviour_lines(m)).keywords))
    from pmg_engine.keywords.merge import MiniLMPhraseEncoder, SynonymMerger

    merger = SynonymMerger(MiniLMPhraseEncoder())
    final = PreferenceKeywordExtractor(None, num_keywords=NUM, merger=merger)
    rows.append(
        ("final: rules + MiniLM merge", lambda m: final.extract(lines=behaviour_lines(m)).keywords)
    )
    if with_llm:
        from pmg_engine.llm import LocalChatModel

        folder = Path("data/models/smollm2-135m-instruct")
        if not (folder / "config.json").is_file():
            raise SystemExit("run `pmg models prepare` first, or leave out --llm")
        llm = LocalChatModel(model_path=str(folder), max_new_tokens=48)
        for weight in (0.5, 1.0):
            hybrid = PreferenceKeywordExtractor(
                llm, num_keywords=NUM, merger=merger, model_weight=weight
            )
            rows.append(
                (
                    f"+ SmolLM2 rerank (weight {weight})",
                    lambda m, h=hybrid: h.extract(lines=behaviour_lines(m)).keywords,
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", action="store_true", help="also run the local SmolLM2 rows")
    parser.add_argument("--show", help="print each method's keywords for this history id")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 makes cpu time honest)"
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    hard = json.loads(HARD.read_text(encoding="utf-8"))
    cases = hard["histories"]
    filler = frozenset(hard["filler"])
    rows = methods(args.llm)
    print("machine:", machine())
    if args.show:
        case = next(c for c in cases if c["id"] == args.show)
        for name, extract in rows:
            print(f"  {name:<34} {extract(case['messages'])[:NUM]}")
        return
    sizes = Counter(c["lines"] for c in cases)
    print(
        f"hard set: {len(cases)} histories ("
        + ", ".join(f"{n} of {s} lines" for s, n in sorted(sizes.items(), key=lambda x: int(x[0])))
        + f"), 3 interests each, {NUM} keywords"
    )
    header()
    for name, extract in rows:
        evaluate(name, extract, cases, filler)
    easy = json.loads(EASY.read_text(encoding="utf-8"))
    print(f"easy calibration set: {len(easy)} histories of 6 lines, interests repeated")
    header()
    for case in easy:
        case["interests"] = [[i] for i in case["interests"]]
        case.setdefault("negated", [])
        case["lines"] = "6"
    for name, extract in rows:
        evaluate(name, extract, easy, filler)


if __name__ == "__main__":
    main()
