"""Configuration from environment variables only (12-factor).

Every value is validated when a process starts; a bad or missing value stops it
with one line per problem, naming the variable. Secrets may instead come from a
file named by ``<NAME>_FILE`` (Docker and Kubernetes secrets are mounted as files),
so they never have to sit in the environment of a process listing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from redis.asyncio.connection import parse_url

# Fields that may be read from a file named by <NAME>_FILE.
FILE_FIELDS = ("postgres_password", "redis_password")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# libpq's sslmode values; the verify-* ones check the server's certificate (and, verify-full, its name).
SSL_MODES = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class SettingsError(Exception):
    """The environment does not describe a usable configuration."""


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``POSTGRES_PASSWORD_FILE`` & co.: the file's content, without its
    trailing newline, becomes the value of ``POSTGRES_PASSWORD``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        env = field_name.upper()
        path = os.environ.get(f"{env}_FILE")
        if field_name not in FILE_FIELDS or not path:
            return None, field_name, False
        if os.environ.get(env):
            raise SettingsError(f"{env} and {env}_FILE are both set: set only one of them")
        try:
            return Path(path).read_text().rstrip("\r\n"), field_name, False
        except OSError as exc:
            raise SettingsError(f"{env}_FILE: cannot read {path}: {exc.strerror}") from exc

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class CommonSettings(BaseSettings):
    """What every Conveyor process needs: where PostgreSQL and Redis are."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    postgres_host: str = "postgres"
    postgres_port: int = Field(5432, ge=1, le=65535)
    postgres_db: str = "conveyor"
    postgres_user: str = "conveyor"
    postgres_password: SecretStr
    postgres_pool_size: int = Field(10, ge=1, le=200)
    # libpq's default; a managed database wants verify-full with its CA (docs/kubernetes.md).
    postgres_sslmode: SSL_MODES = "prefer"
    # The CA bundle that signed the server's certificate, or "system" for the OS's store.
    postgres_sslrootcert: str | None = Field(None, validate_default=True)
    redis_url: str = "redis://redis:6379/0"
    redis_password: SecretStr | None = None
    # For a rediss:// REDIS_URL: the CA bundle instead of the OS's store (ignored for redis://).
    redis_ssl_ca_certs: str | None = None
    log_level: str = "INFO"
    # Modules that register more tasks, imported at start (comma-separated).
    task_modules: Annotated[list[str], NoDecode] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, FileSecretsSource(settings_cls)

    @field_validator("postgres_sslrootcert")
    @classmethod
    def _verified_needs_a_ca(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Else libpq looks for ~/.postgresql/root.crt, which no container has.
        if value is None and str(info.data.get("postgres_sslmode", "")).startswith("verify-"):
            raise ValueError(
                "required with POSTGRES_SSLMODE=verify-ca or verify-full (a CA file, or 'system')"
            )
        if value not in (None, "system") and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("redis_ssl_ca_certs")
    @classmethod
    def _ca_file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, value: str) -> str:
        parse_url(value)  # raises ValueError with redis-py's own explanation
        return value

    @field_validator("task_modules", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level


S = TypeVar("S", bound=CommonSettings)


def describe(error: ValidationError) -> list[str]:
    """One readable line per invalid variable, never echoing secret values."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        if item["type"] == "missing":
            hint = " (or " + name + "_FILE)" if name.lower() in FILE_FIELDS else ""
            lines.append(f"{name}: required but not set{hint}")
        else:
            shown = "" if "password" in name.lower() else f" (got {item.get('input')!r})"
            lines.append(f"{name}: {item['msg']}{shown}")
    return lines


def load(cls: type[S]) -> S:
    """Build the settings or exit with status 2 and a message per problem."""
    try:
        return cls()
    except ValidationError as exc:
        problems = describe(exc)
    except SettingsError as exc:
        problems = [str(exc)]
    print("configuration error:", *problems, sep="\n  ", file=sys.stderr)
    raise SystemExit(2)
