"""Model building from settings: the sticker upscaler setting and its fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_settings
from pmg_engine.models.upscaler import Upscaler, save_upscaler
from pmg_engine.runtime import _load_upscaler
from tests.synthetic_pairs import random_net


def test_upscaler_defaults_to_builtin_and_none_is_the_old_resampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default is the shipped upscaler; "none" loads nothing and says nothing."""
    assert load_settings().generator.upscaler == "builtin"
    monkeypatch.setenv("PMG_GENERATOR__UPSCALER", "none")
    choice = load_settings().generator.upscaler
    notes: list[str] = []
    assert _load_upscaler(choice, notes) is None
    assert notes == []


def test_a_missing_upscaler_is_one_note_and_resampling(tmp_path: Path) -> None:
    """A folder without an upscaler falls back to resampling with one sentence why."""
    notes: list[str] = []
    assert _load_upscaler(str(tmp_path / "gone"), notes) is None
    assert len(notes) == 1
    assert notes[0].startswith("small pictures are enlarged by resampling: no sticker upscaler")


def test_an_upscaler_folder_is_loaded(tmp_path: Path) -> None:
    """A folder written by `pmg train upscaler` is what the setting names."""
    save_upscaler(random_net(), tmp_path / "up")
    notes: list[str] = []
    assert isinstance(_load_upscaler(str(tmp_path / "up"), notes), Upscaler)
    assert notes == []
