"""The open emoji corpus: registry emoji sets rendered to RGBA with captions and splits.

``build_corpus`` writes ``manifest.jsonl`` (one ``CorpusItem`` a line), ``summary.json`` and
``images/<style>/<set version>-r<render version>/<size>px/<concept>.png``. A concept is a base
emoji (skin-tone variants and components left out), keyed by its codepoints without variation
selectors, so the same key names it in every style. ``corpus_fingerprint`` digests a built
corpus (fields and 64 px pixels). Importing this package loads no image library; rendering
starts only in ``build_corpus``.
"""

from pmg_engine.corpus.build import CorpusSummary, build_corpus
from pmg_engine.corpus.fingerprint import corpus_fingerprint
from pmg_engine.corpus.manifest import CorpusItem, load_manifest

__all__ = ["CorpusItem", "CorpusSummary", "build_corpus", "corpus_fingerprint", "load_manifest"]
