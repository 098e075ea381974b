"""Keyword quality: coverage of known interests and filler rate, per extractor.

Run from the repository root:  .venv/bin/python benchmarks/keyword_quality.py [--llm]

`benchmarks/data/keyword_histories.json` holds 20 short chat histories, each written around
three core interests (with filler chat mixed in), the calibration DESIGN.md section 6 describes
(raw few-shot SmolLM2-135M covered 0.63 of the interests; a word counter 0.70 with 21 % filler).
For each extractor: coverage (share of the 3 interests found among the 8 keywords, a keyword
matching when it contains the interest word or its plural) and filler rate (share of keywords
that are chat filler such as "went", "huge", "she").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine
from pmg_engine.behaviours import message_events
from pmg_engine.keywords import PreferenceKeywordExtractor, parse_keywords
from pmg_engine.keywords.text import FILLER, STOPWORDS, words

DATA = Path(__file__).with_name("data") / "keyword_histories.json"
NUM = 8


def covered(interest: str, keywords: Sequence[str]) -> bool:
    forms = {interest, interest + "s", interest.rstrip("s")}
    return any(forms & set(k.split()) for k in keywords)


def is_filler(keyword: str) -> bool:
    tokens = keyword.split()
    return all(t in FILLER or t in STOPWORDS for t in tokens)


def word_counter(messages: Sequence[str]) -> list[str]:
    """The baseline: the most frequent non-stopwords (stopwords only, no filler list)."""
    counts = Counter(w for m in messages for w in words(m) if w not in STOPWORDS and len(w) > 2)
    return [w for w, _ in counts.most_common(NUM)]


def evaluate(name: str, extract: Callable[[list[str]], list[str]], cases: list[dict]) -> None:
    coverage, filler, total, started = 0.0, 0, 0, time.perf_counter()
    for case in cases:
        keywords = extract(case["messages"])[:NUM]
        coverage += sum(covered(i, keywords) for i in case["interests"]) / len(case["interests"])
        filler += sum(is_filler(k) for k in keywords)
        total += len(keywords)
    seconds = (time.perf_counter() - started) / len(cases)
    print(
        f"  {name:<28} coverage {coverage / len(cases):.2f}   filler {filler / max(total, 1):.0%}"
        f"   {seconds:.2f} s/history"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", action="store_true", help="also run the local SmolLM2 variants")
    args = parser.parse_args()
    cases = json.loads(DATA.read_text(encoding="utf-8"))
    print("machine:", machine())
    print(f"{len(cases)} histories, {NUM} keywords each")

    def lines(messages: Sequence[str]) -> list[str]:
        return [e.text for m in messages for e in message_events(m)]

    evaluate("word counter (baseline)", word_counter, cases)
    fallback = PreferenceKeywordExtractor(None, num_keywords=NUM)
    evaluate("grounded fallback only", lambda m: fallback.extract(lines=lines(m)).keywords, cases)
    if not args.llm:
        return
    from pmg_engine.keywords.chains import preference_chain
    from pmg_engine.llm import LocalChatModel

    folder = Path("data/models/smollm2-135m-instruct")
    if not (folder / "config.json").is_file():
        raise SystemExit("run `pmg models prepare` first, or leave out --llm")
    llm = LocalChatModel(model_path=str(folder), max_new_tokens=48)
    chain = preference_chain(llm)

    def raw_llm(messages: Sequence[str]) -> list[str]:
        history = "\n".join(f"{i}. {line}" for i, line in enumerate(lines(messages), start=1))
        return parse_keywords(chain.invoke({"history": history, "num_keywords": NUM}))

    evaluate("raw few-shot SmolLM2", raw_llm, cases)
    hybrid = PreferenceKeywordExtractor(llm, num_keywords=NUM)
    evaluate(
        "hybrid (SmolLM2 + grounding)", lambda m: hybrid.extract(lines=lines(m)).keywords, cases
    )


if __name__ == "__main__":
    main()
