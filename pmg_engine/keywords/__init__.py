"""Explicit keywords: preference keywords from behaviours, target keywords from requests."""

from pmg_engine.keywords.chains import (
    KeywordResult,
    PreferenceKeywordExtractor,
    TargetKeywordExtractor,
)
from pmg_engine.keywords.mood import mood_of
from pmg_engine.keywords.parse import parse_keywords, parse_target_fields

__all__ = [
    "KeywordResult",
    "PreferenceKeywordExtractor",
    "TargetKeywordExtractor",
    "mood_of",
    "parse_keywords",
    "parse_target_fields",
]
