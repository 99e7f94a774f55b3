"""Settings from the environment (`TIMELINE_*`), with defaults that run with nothing installed."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from timeline.streams.settings import StreamSettings, WebhookSettings

#: Database URL schemes the service runs on (SQLAlchemy names, with or without a driver).
SCHEMES = ("sqlite", "postgresql", "postgres")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\*")


class Settings(BaseSettings):
    """Where the events live and how the service behaves; one setting picks the database."""

    model_config = SettingsConfigDict(env_prefix="TIMELINE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///timeline.db",
        description="SQLAlchemy URL of the event store and read models; a SQLite file in the "
        "working directory by default, `postgresql+psycopg://user@host/db` in production.",
    )
    signing_key: Path | None = Field(
        default=None,
        description="PEM file of the Ed25519 key that signs tree heads (created there on first "
        "use when missing). Default: beside a SQLite file (`timeline.db.signing-key.pem`); "
        "for PostgreSQL `timeline-signing-key.pem` in `key_dir`. Never printed.",
    )
    key_dir: Path = Field(
        default=Path("."),
        description="Directory of the signing key when `signing_key` is unset and the "
        "database is not a SQLite file (PostgreSQL deployments: a volume every replica mounts).",
    )
    read_your_writes_timeout: float = Field(
        default=5.0, ge=0, description="Seconds a write waits for the projections to catch up."
    )
    # -- API (api/): safe by default -------------------------------------------------------
    development: bool = Field(
        default=False,
        description="Development mode: GraphiQL at /graphql, and CORS and websockets from any "
        "http://localhost:* or http://127.0.0.1:* origin; never in production.",
    )
    read_requires_token: bool = Field(
        default=False, description="Close reads: queries then need a token with scope read."
    )
    introspection: bool = Field(
        default=True, description="Allow GraphQL schema introspection (__schema, __type)."
    )
    max_query_depth: int = Field(default=12, ge=1, description="Deepest GraphQL selection.")
    max_aliases: int = Field(default=30, ge=0, description="Most aliases in one document.")
    max_tokens: int = Field(default=2_000, ge=10, description="Most tokens in one document.")
    max_cost: int = Field(
        default=50_000, ge=1, description="Largest cost: fields times the `first` of lists."
    )
    max_repeated_fields: int = Field(
        default=10, ge=1, description="Most fields of one response name in a selection."
    )
    document_cache_bytes: int = Field(
        default=8_000_000, ge=0, description="Bytes of parsed documents kept."
    )
    document_cache_entry_bytes: int = Field(
        default=1_000_000, ge=0, description="Largest parsed document kept (bytes)."
    )
    max_page_size: int = Field(default=200, ge=1, description="Largest `first` of a list.")
    default_page_size: int = Field(default=50, ge=1, description="`first` when omitted.")
    max_body_bytes: int = Field(
        default=1_000_000, ge=1_024, description="Largest request body; larger gets 413."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS and to open the GraphQL websocket: comma-separated "
        "(`http://localhost:3000,https://app.example`) or a JSON list; none by default.",
    )
    readiness_max_lag: int = Field(
        default=1_000,
        ge=0,
        description="/readyz fails when the projections are more events behind than this.",
    )

    # -- groups with prefixes of their own, read from the environment with the rest ------
    stream: StreamSettings = Field(
        default_factory=StreamSettings,
        description="The event streams and their wake-ups: TIMELINE_STREAM_*.",
    )
    webhook: WebhookSettings = Field(
        default_factory=WebhookSettings,
        description="Webhook delivery and where webhooks may go: TIMELINE_WEBHOOK_*.",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if not sep:
            raise ValueError(
                f"{value!r} is not a URL: for a SQLite file write sqlite:///{value} "
                "(relative) or sqlite:////absolute/path.db; for PostgreSQL "
                "postgresql://user@host:5432/db"
            )
        if scheme.split("+")[0].lower() not in SCHEMES:
            raise ValueError(
                f"the database {scheme!r} is not supported: use sqlite:///path/to/file.db or "
                "postgresql://user@host:5432/db"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("is neither a JSON list nor comma-separated origins") from None
            else:
                value = text.split(",")
        if not isinstance(value, list):
            raise ValueError("must be a list of origins")
        origins = [str(v).strip().rstrip("/") for v in value if str(v).strip()]
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port] without a path, "
                    "e.g. http://localhost:3000"
                )
        return origins

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg 3 driver named, so `postgresql://` URLs also work; a SQLite
        file waits up to 30 s for the write lock (the API, a worker and the CLI share it)."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        if url.startswith("sqlite") and ":memory:" not in url and "timeout=" not in url:
            url += ("&" if "?" in url else "?") + "timeout=30"
        return url

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")


#: TIMELINE_* variables read outside the settings models: the CLI's traceback switch, and the
#: development and test tooling (dev.py, the test suite), which a shell may well export.
TOOLING_VARIABLES = frozenset(
    {
        "TIMELINE_DEBUG",
        "TIMELINE_VENV",
        "TIMELINE_TEST_POSTGRES",
        "TIMELINE_TEST_POSTGRES_BINDIR",
        "TIMELINE_REQUIRE_POSTGRES",
        "TIMELINE_NPM_CACHE",
        "TIMELINE_CHROMIUM",
    }
)


def known_variables(*models: type[BaseSettings]) -> frozenset[str]:
    """Every environment variable the settings models read (prefix + field name), their
    groups' too (`Settings.stream`: TIMELINE_STREAM_*)."""
    names = set(TOOLING_VARIABLES)
    pending = list(models)
    while pending:
        model = pending.pop()
        prefix = str(model.model_config.get("env_prefix") or "").upper()
        for name, field in model.model_fields.items():
            group = field.annotation
            if isinstance(group, type) and issubclass(group, BaseSettings):
                pending.append(group)
            else:
                names.add(prefix + name.upper())
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str], *models: type[BaseSettings]) -> list[str]:
    """A line for each TIMELINE_* variable no model reads (a typo such as
    TIMELINE_DATABSE_URL would otherwise be ignored in silence), with the nearest name."""
    known = known_variables(*models)
    lines = []
    for name in sorted(n for n in environ if n.upper().startswith("TIMELINE_")):
        if name.upper() in known:
            continue
        near = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.8)
        hint = f"; did you mean {near[0]}?" if near else ""
        lines.append(f"{name} is not a setting of this service and is ignored{hint}")
    return lines


def _env_prefix(model: str) -> str:
    """The environment prefix of the settings model named `model` (TIMELINE_ when unknown)."""
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == model and cls is not BaseSettings:
            return str(cls.model_config.get("env_prefix") or "")
        pending.extend(cls.__subclasses__())
    return "TIMELINE_"


def describe_invalid(error: ValidationError) -> str:
    """One line naming each environment variable at fault and what it should be."""
    prefix = _env_prefix(error.title)
    problems = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{prefix}{name}: {message}")
    return "; ".join(problems)
