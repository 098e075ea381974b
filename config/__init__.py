"""Typed settings of the project: environment over TOML files over defaults."""

from config.settings import (
    DatabaseSettings,
    DiscordSettings,
    GeneratorSettings,
    LLMSettings,
    QueueSettings,
    Settings,
    SettingsError,
    StorageSettings,
    load_settings,
)

__all__ = [
    "DatabaseSettings",
    "DiscordSettings",
    "GeneratorSettings",
    "LLMSettings",
    "QueueSettings",
    "Settings",
    "SettingsError",
    "StorageSettings",
    "load_settings",
]
