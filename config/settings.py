"""Settings, one class per concern.

Precedence, highest first: keyword arguments, ``PMG_*`` environment variables (``__`` separates
nesting, e.g. ``PMG_DATABASE__URL``), the TOML file named by ``PMG_CONFIG_FILE`` (or
``config/local.toml`` when it exists), the shipped ``config/default.toml``, and the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_TOML = Path(__file__).with_name("default.toml")
LOCAL_TOML = Path(__file__).with_name("local.toml")
ENV_PREFIX = "PMG_"
ENV_NESTED_DELIMITER = "__"


class SettingsError(ValueError):
    """A setting has a bad value; the message names the setting and shows the value."""


class _Section(BaseModel):
    # A typo in a TOML file or a variable name is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class StorageSettings(_Section):
    """Where files live: the SQLite database, generated images, model caches."""

    data_dir: Path = Path("data")

    @property
    def outputs_dir(self) -> Path:
        """Return where generated pictures are stored."""
        return self.data_dir / "outputs"

    @property
    def models_dir(self) -> Path:
        """Return where prepared local models are cached."""
        return self.data_dir / "models"


class DatabaseSettings(_Section):
    """The SQL store; empty ``url`` means the embedded SQLite file under the data directory."""

    url: SecretStr | None = None
    echo: bool = False
    pool_size: int = Field(default=5, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = value.get_secret_value().split("://", 1)[0]
        if scheme not in {"sqlite+aiosqlite", "postgresql+asyncpg", "sqlite", "postgresql"}:
            raise ValueError(
                f"unsupported database URL scheme {scheme!r}; "
                "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
            )
        return value


class QueueSettings(_Section):
    """The job queue between the bot and the generator."""

    backend: Literal["inprocess", "celery"] = "inprocess"
    broker_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    max_attempts: int = Field(default=3, ge=1, le=20)
    job_timeout_s: float = Field(default=600.0, gt=0)
    # Prefix of every Redis key and the Celery queue name: several deployments (or test runs)
    # can share one Redis without seeing each other's jobs.
    namespace: str = Field(default="pmg", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Redis redelivers an unacknowledged job after this long; it must exceed the longest job,
    # or a slow job would be handed to a second worker while the first still runs.
    visibility_timeout_s: float = Field(default=3600.0, gt=0, validate_default=True)
    retry_backoff_s: float = Field(default=5.0, ge=0)
    # A worker refreshes its liveness key this often; silent for three periods, it is presumed
    # dead and its running job is handed to another worker.
    heartbeat_s: float = Field(default=10.0, gt=0, le=600)

    @field_validator("visibility_timeout_s")
    @classmethod
    def _visibility_above_timeout(cls, value: float, info: ValidationInfo) -> float:
        timeout = info.data.get("job_timeout_s")
        if timeout is not None and value <= timeout:
            raise ValueError(
                f"must exceed job_timeout_s ({timeout}), or a running job is redelivered to a "
                "second worker"
            )
        return value


class LLMSettings(_Section):
    """The chat model behind the keyword chains and the chat replies."""

    provider: Literal["local", "openai"] = "local"
    model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    base_url: str | None = None
    api_key: SecretStr | None = None
    max_new_tokens: int = Field(default=96, ge=1, le=4096)
    num_keywords: int = Field(default=8, ge=1, le=32)


class GeneratorSettings(_Section):
    """The diffusion generator and its scorer."""

    model: str = "builtin"
    scorer: str = "builtin"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    num_inference_steps: int = Field(default=25, ge=1, le=200)
    # Chosen for the builtin pack on the pmg-val tuning set (its model card); Stable Diffusion
    # checkpoints want about 7.5. pmg_engine.guidance.BUILTIN_GUIDANCE_SCALE is the same number.
    guidance_scale: float = Field(default=3.0, ge=0.0, le=30.0)
    allow_hub_download: bool = False
    # Reference-guided mode (SDEdit): start from the nearest corpus rendering of the target.
    reference_guided: bool = False
    reference_strength: float = Field(default=0.6, gt=0.0, le=1.0)
    reference_index: str = "builtin"
    # Implicit preference tokens (DESIGN.md §1 step 3): the trained soft-prompt module
    # ("builtin", or a folder written by `pmg train implicit`), or "pooled" encoder states.
    implicit: str = "builtin"
    # How small outputs (at most 128 px, our own generator's 64 px) are enlarged for stickers and
    # full images: the learned upscaler ("builtin", or a folder written by `pmg train upscaler`),
    # or "none" for plain resampling. Bigger outputs (Stable Diffusion) are never upscaled.
    upscaler: str = "builtin"
    # How the personalization weight reaches the condition: "scale" the taste parts by it, or
    # "repeat" them (PAPER.md §6 item 6).
    weight_mode: Literal["scale", "repeat"] = "scale"


class DiscordSettings(_Section):
    """The Discord adapter; the token has no usable default on purpose."""

    token: SecretStr | None = None
    owner_ids: list[int] = Field(default_factory=list)
    learning_opt_in_default: bool = True
    max_prompt_chars: int = Field(default=300, ge=1, le=2000)
    daily_quota: int = Field(default=50, ge=0)
    cooldown_s: float = Field(default=10.0, ge=0)
    max_concurrent_jobs: int = Field(default=2, ge=1)
    # Words or phrases a prompt may not contain (case-insensitive, whole words).
    prompt_blocklist: list[str] = Field(default_factory=list)
    # What the output safety hook does with a flagged result: show it as a spoiler or refuse it.
    output_safety: Literal["off", "spoiler", "refuse"] = "spoiler"
    # Discord allows about five edits per message in five seconds; progress edits stay below.
    progress_edit_interval_s: float = Field(default=1.5, ge=0)
    # `pmg bot --sync` copies the commands to this guild (instant) instead of syncing globally.
    dev_guild_id: int | None = None

    @field_validator("prompt_blocklist")
    @classmethod
    def _clean_blocklist(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(term.split()).casefold() for term in value]
        return [term for term in cleaned if term]


class Settings(BaseSettings):
    """All settings of one process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_default=True,
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init arguments, then the environment, then the TOML files (highest first)."""
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_files(), deep_merge=True)
        return (init_settings, env_settings, toml)

    @property
    def database_url(self) -> str:
        """Return the effective async database URL (SQLite under the data directory by default)."""
        if self.database.url is None:
            path = (self.storage.data_dir / "pmg.sqlite3").resolve()
            return f"sqlite+aiosqlite:///{path}"
        return normalise_database_url(self.database.url.get_secret_value())


def normalise_database_url(url: str) -> str:
    """Give plain ``sqlite://`` / ``postgresql://`` URLs their async driver."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return url


def config_files() -> list[Path]:
    """Return the TOML files to read, lowest precedence first."""
    files = [DEFAULT_TOML]
    explicit = os.environ.get("PMG_CONFIG_FILE")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"PMG_CONFIG_FILE: no such file {explicit!r}")
        files.append(path)
    elif LOCAL_TOML.is_file():
        files.append(LOCAL_TOML)
    return files


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one readable ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        env_name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(loc).upper()
        dotted = ".".join(loc)
        value = error.get("input")
        shown = "<hidden>" if any(k in dotted for k in ("token", "key", "url")) else repr(value)
        lines.append(f"setting {dotted} ({env_name}) = {shown}: {error['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)
