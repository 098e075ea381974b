"""Settings precedence and validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings


def test_defaults_use_embedded_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    """With nothing configured, the database is a SQLite file in the data directory."""
    settings = load_settings()
    assert (
        settings.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'data').resolve()}/pmg.sqlite3"
    )
    assert settings.queue.backend == "inprocess"
    assert settings.discord.token is None


def test_env_beats_toml_beats_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PMG_ variable overrides the TOML file, which overrides the shipped default."""
    toml = tmp_path / "site.toml"
    toml.write_text('[queue]\nbackend = "celery"\nmax_attempts = 7\n[llm]\nnum_keywords = 5\n')
    monkeypatch.setenv("PMG_CONFIG_FILE", str(toml))
    monkeypatch.setenv("PMG_QUEUE__MAX_ATTEMPTS", "4")
    settings = load_settings()
    assert settings.queue.backend == "celery"  # from the file
    assert settings.queue.max_attempts == 4  # env wins over the file
    assert settings.llm.num_keywords == 5
    assert settings.generator.model == "builtin"  # shipped default.toml


def test_plain_urls_get_async_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """postgresql:// and sqlite:// URLs are given their async drivers."""
    monkeypatch.setenv("PMG_DATABASE__URL", "postgresql://pmg@db.internal/pmg")
    assert load_settings().database_url == "postgresql+asyncpg://pmg@db.internal/pmg"


def test_error_names_the_setting_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value is reported with its dotted name, its variable name and the value."""
    monkeypatch.setenv("PMG_GENERATOR__NUM_INFERENCE_STEPS", "many")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "generator.num_inference_steps" in message
    assert "PMG_GENERATOR__NUM_INFERENCE_STEPS" in message
    assert "'many'" in message


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rejected database URL is named but its value (which may hold a password) is hidden."""
    monkeypatch.setenv("PMG_DATABASE__URL", "mysql://root:hunter2@db/pmg")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "database.url" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_token_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Discord token never shows in the settings' repr."""
    monkeypatch.setenv("PMG_DISCORD__TOKEN", "abc.def.ghi")
    settings = load_settings()
    assert settings.discord.token is not None
    assert settings.discord.token.get_secret_value() == "abc.def.ghi"
    assert "abc.def.ghi" not in repr(settings)


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """PMG_CONFIG_FILE naming a missing file says so."""
    monkeypatch.setenv("PMG_CONFIG_FILE", "/nonexistent/pmg.toml")
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()


def test_unknown_setting_in_toml_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A typo in the TOML file is an error, not silently ignored."""
    toml = tmp_path / "typo.toml"
    toml.write_text("[queue]\nbakend = 'celery'\n")
    monkeypatch.setenv("PMG_CONFIG_FILE", str(toml))
    with pytest.raises(SettingsError, match=r"queue\.bakend"):
        load_settings()


def test_default_guidance_is_the_builtin_packs() -> None:
    """The bot, the service and both evaluations draw with the guidance chosen on pmg-val."""
    from pmg_engine.eval._run import EvalSettings
    from pmg_engine.eval.personalization import EvalOptions
    from pmg_engine.guidance import BUILTIN_GUIDANCE_SCALE
    from pmg_engine.service import ServiceConfig

    settings = load_settings()
    assert settings.generator.guidance_scale == BUILTIN_GUIDANCE_SCALE
    assert EvalSettings().guidance_scale == BUILTIN_GUIDANCE_SCALE
    assert EvalOptions().guidance_scale == BUILTIN_GUIDANCE_SCALE
    assert ServiceConfig(outputs_dir=Path()).guidance_scale == BUILTIN_GUIDANCE_SCALE
