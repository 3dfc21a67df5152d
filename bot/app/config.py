"""One typed configuration object, read once at start and injected everywhere.

Sources, strongest first: keyword arguments (tests), `BLIPBOT_<SECTION>__<KEY>` environment
variables, the YAML file (`--config PATH`, default `./config.yaml` when present), then the
defaults below, which `config.yaml` documents key by key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from bot.api.config import ApiConfig
from bot.core.errors import ConfigError
from bot.discord.config import DiscordConfig
from bot.telegram.config import TelegramConfig
from bot.web.config import WebConfig

__all__ = ["ConfigError", "Settings", "load_settings"]

DEFAULT_CONFIG_PATH = Path("config.yaml")


class Section(BaseModel):
    """A config section: unknown keys are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


class InferenceConfig(Section):
    model: str = "Salesforce/blip2-opt-2.7b"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "fp16", "bf16", "int8", "int4"] = "fp16"
    caption_prefix: str = ""
    queue_size: int = Field(default=256, ge=1)
    max_batch_size: int = Field(default=16, ge=1)
    batch_wait_ms: float = Field(default=5.0, ge=0)
    join_running: bool | Literal["auto"] = "auto"
    request_timeout_s: float = Field(default=120.0, gt=0)
    embedding_cache_mb: int = Field(default=256, ge=0)
    kv_cache_tokens: int = Field(default=8192, ge=0)
    caption_beams: int = Field(default=5, ge=1)
    caption_max_new_tokens: int = Field(default=30, ge=1)
    answer_beams: int = Field(default=5, ge=1)
    answer_max_new_tokens: int = Field(default=10, ge=1)
    min_new_tokens: int = Field(default=1, ge=0)
    repetition_penalty: float = Field(default=1.5, gt=0)
    length_penalty: float = 1.0
    use_nucleus_sampling: bool = False
    temperature: float = Field(default=1.0, ge=0.5, le=1.0)


class StorageConfig(Section):
    #: Secret: a PostgreSQL URL may carry a password (it prints as '**********').
    url: SecretStr = SecretStr("sqlite+aiosqlite:///data/blipbot.sqlite3")

    @field_validator("url")
    @classmethod
    def _supported_database(cls, value: SecretStr) -> SecretStr:
        """SQLite or PostgreSQL, checked at start rather than at the first query."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value.get_secret_value()).get_backend_name()
        except ArgumentError:
            raise ValueError("not a database URL, e.g. sqlite+aiosqlite:///data/blipbot.sqlite3") from None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("only sqlite and postgresql databases are supported")
        return value

    retention_days: int = Field(default=30, ge=1)
    purge_interval_hours: float = Field(default=6.0, gt=0)


class QueueConfig(Section):
    """Where requests wait for the model: in this process (url empty), or Redis Streams."""

    url: str = ""
    name: str = Field(default="blipbot", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    claim_idle_ms: int = Field(default=60_000, ge=100)
    max_deliveries: int = Field(default=3, ge=1)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be empty (in-process) or a Redis URL, e.g. redis://127.0.0.1:6379/0")
        return value


class LimitsConfig(Section):
    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    photos_per_minute: int = Field(default=10, ge=1)


class AccessibilityConfig(Section):
    """Defaults for each person's settings (they change their own with /detail, /voice, ...)."""

    detail: Literal["brief", "normal", "full"] = "normal"
    voice: bool = False
    ocr_language: str = "eng"
    alt_text_chars: int = Field(default=125, ge=20, le=1000)
    codes: bool = True
    light_hints: bool = True
    colours: bool = True
    # Mean log-probability per answer token below which the reply says it is unsure.
    low_confidence_logprob: float = Field(default=-1.2, le=0)
    speech_voice: str = "en-us"
    speech_rate_wpm: int = Field(default=175, ge=80, le=450)
    speech_max_chars_per_note: int = Field(default=600, ge=50)
    speech_max_notes: int = Field(default=5, ge=1, le=20)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    """Everything blipbot can be told. Secrets are `SecretStr`: they print as '**********'."""

    model_config = SettingsConfigDict(
        env_prefix="BLIPBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file=None,
    )

    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    accessibility: AccessibilityConfig = Field(default_factory=AccessibilityConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_path = settings_cls.model_config.get("yaml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the config file (if any) and the environment, and validate them.

    An explicit `path` must exist; the default `config.yaml` is used only when present.
    """
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    if path is not None:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"config file {path} is not valid YAML{where}") from None
        except OSError as error:
            raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
        if document is not None and not isinstance(document, dict):
            raise ConfigError(f"config file {path} must hold sections such as 'inference:', not a list")

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=path)

    try:
        return _FileSettings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe_validation_error(error)) from None
    except SettingsError as error:  # e.g. a list key set from the environment that is not JSON
        name = str(error).split('"')[1] if str(error).count('"') >= 2 else "an environment variable"
        example = "BLIPBOT_TELEGRAM__ALLOWED_CHATS='[1, 2]'"
        raise ConfigError(
            f"invalid config value for {name} in the environment: lists are written in JSON, e.g. {example}"
        ) from None


def _describe_validation_error(error: ValidationError) -> str:
    """The first problem as 'key: message', without echoing the (possibly secret) value."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "config"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"invalid config value for {key}: {message}{suffix}"
