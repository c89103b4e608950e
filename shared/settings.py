"""Every ``RELAY_*`` setting of the contract, validated once at start.

A process builds :class:`Settings` in its ``__main__`` and passes it down; nothing reads the
environment at import time. A missing or malformed value raises :class:`SettingsError` with a
message naming the variable, so the process stops before it handles anything.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_APP_SECRET = "relay-dev-app-secret"
DEV_VERIFY_TOKEN = "relay-dev-verify-token"
DEV_SECRET_KEY = "relay-dev-secret-key-change-me"
DEV_AMQP_USER = "guest"  # RabbitMQ's built-in user (guest/guest), the default RELAY_AMQP_URL's
META_API_URL = "https://graph.facebook.com"
ENVIRONMENTS = ("development", "production")
NEW_SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class SettingsError(RuntimeError):
    """Raised when the environment holds a value Relay cannot start with."""


class Settings(BaseSettings):
    """Relay's configuration; each field is read from ``RELAY_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="RELAY_", extra="ignore", frozen=True, populate_by_name=True
    )

    env: str = Field(
        "development", description="`development`, or `production`: built-in development "
        "secrets are refused and an unset RELAY_WHATSAPP_API_URL means Meta's Graph API.")
    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ URL (vhost included)."
    )
    mongodb_url: str | None = Field(
        None, description="MongoDB URL; unset means `relay up` starts the embedded server."
    )
    mongodb_db: str = Field("relay", description="Database name.")
    media_store: str = Field(
        "", description="`s3://bucket/prefix`, or empty for files under `<data_dir>/media`."
    )
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint URL.")
    whatsapp_api_url: str | None = Field(
        None, description="Cloud API base URL; unset means the built-in simulator "
        "(in production: https://graph.facebook.com)."
    )
    whatsapp_api_version: str = Field("v21.0", description="Graph API version, e.g. v21.0.")
    whatsapp_app_secret: str = Field(DEV_APP_SECRET, description="Meta app secret (webhooks).")
    whatsapp_verify_token: str = Field(DEV_VERIFY_TOKEN, description="Webhook handshake token.")
    secret_key: str = Field(
        DEV_SECRET_KEY, description="Keys that encrypt access tokens, comma-separated, newest "
        "first: the newest encrypts, any decrypts (`relay admin rotate-tokens` re-encrypts).")
    media_max_bytes: int = Field(
        10 * 1024 * 1024,
        gt=0,
        validation_alias=AliasChoices("RELAY_MEDIA_MAX_BYTES", "AWS_S3_MAX_FILE_SIZE"),
        description="Largest media file accepted, in bytes.",
    )
    gateway_port: int = Field(8080, ge=0, le=65535)
    ingest_port: int = Field(8081, ge=0, le=65535)
    stats_port: int = Field(8082, ge=0, le=65535)
    sender_port: int = Field(8083, ge=0, le=65535)
    sim_port: int = Field(8090, ge=0, le=65535)
    host: str = Field("127.0.0.1", description="Interface the HTTP servers bind to.")
    public_url: str | None = Field(
        None, description="Gateway URL as clients see it (media links); default from the port."
    )
    retry_base_seconds: float = Field(5.0, gt=0, description="Backoff before the 2nd attempt.")
    max_attempts: int = Field(3, ge=1, le=10, description="Send attempts before Failed.")
    send_concurrency: int = Field(10, ge=1, le=1000, description="Sends in flight per sender.")
    send_shards: int = Field(8, ge=1, le=256, description="Sharded send queues (fixed).")
    send_timeout_seconds: float = Field(15.0, gt=0, description="Cloud API call timeout.")
    send_in_doubt_seconds: float = Field(
        30.0, ge=0, description="A send whose answer was lost (timeout, dropped connection) is "
        "retried no sooner than this, so Meta's status webhook can show it was accepted.")
    pacing_enabled: bool = Field(True, description="Per-account rate limiting (benchmarks only).")
    media_fetch_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Hosts or CIDRs outbound media fetches may reach."
    )
    sim_webhook_url: str | None = Field(
        None, description="Where the simulator posts webhooks; default the local ingest."
    )
    sim_status_delay_seconds: float = Field(0.05, ge=0, description="Gap between sim statuses.")
    data_dir: Path = Field(Path(".relay"), description="Embedded data, logs and pid files.")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field("json", description="`json` or `console`.")
    api_rate_per_second: float = Field(200.0, gt=0, description="Requests per API key per s.")
    api_rate_burst: int = Field(400, ge=1, description="Burst per API key.")
    outbox_sweep_seconds: float = Field(5.0, gt=0, description="Outbox sweep period.")
    claim_timeout_seconds: float = Field(60.0, gt=0, description="A claim older is reclaimed.")
    shard_lease_renew_seconds: float = Field(
        1.5, gt=0, le=60, description="How often a sender renews its send-shard leases.")
    shard_lease_ttl_seconds: float = Field(
        5.0, gt=0, le=300, description="A send-shard lease not renewed this long is taken over "
        "by another sender; at least twice the renew interval.")

    @field_validator("shard_lease_ttl_seconds")
    @classmethod
    def _check_lease_ttl(cls, value: float, info: ValidationInfo) -> float:
        renew = info.data.get("shard_lease_renew_seconds")
        if renew is not None and value < 2 * renew:
            raise ValueError(f"must be at least twice RELAY_SHARD_LEASE_RENEW_SECONDS ({renew})")
        return value

    @field_validator("media_fetch_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: str) -> str:
        if value.strip().lower() not in ENVIRONMENTS:
            raise ValueError("must be development or production")
        return value.strip().lower()

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: str) -> str:
        if not [key for key in value.split(",") if key.strip()]:
            raise ValueError("must hold at least one key")
        return value

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        if problems := production_problems(self):
            raise ValueError("\n  ".join(problems))
        return self

    @field_validator("amqp_url")
    @classmethod
    def _check_amqp(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @field_validator("mongodb_url")
    @classmethod
    def _check_mongo(cls, value: str | None) -> str | None:
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value or None

    @field_validator("media_store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        if value and not value.startswith("s3://"):
            raise ValueError("must be empty (files) or s3://bucket/prefix")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        if value not in {"json", "console"}:
            raise ValueError("must be json or console")
        return value

    @field_validator("media_fetch_allowlist")
    @classmethod
    def _check_allowlist(cls, value: list[str]) -> list[str]:
        for entry in value:
            if "/" in entry:
                ipaddress.ip_network(entry, strict=False)
        return value

    @property
    def production(self) -> bool:
        """True under ``RELAY_ENV=production``."""
        return self.env == "production"

    @property
    def uses_simulator(self) -> bool:
        """True when sends go to the built-in simulator (never in production)."""
        return self.whatsapp_api_url is None and not self.production

    @property
    def cloud_api_url(self) -> str:
        """The Cloud API base: the configured one, else Meta's in production, else the simulator."""
        if self.whatsapp_api_url:
            return self.whatsapp_api_url.rstrip("/")
        return META_API_URL if self.production else f"http://127.0.0.1:{self.sim_port}"

    @property
    def secret_keys(self) -> list[str]:
        """``RELAY_SECRET_KEY`` split into its keys, newest first."""
        return [key.strip() for key in self.secret_key.split(",") if key.strip()]

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway as clients reach it."""
        return (self.public_url or f"http://127.0.0.1:{self.gateway_port}").rstrip("/")

    @property
    def webhook_url(self) -> str:
        """Where the simulator delivers webhooks."""
        return self.sim_webhook_url or f"http://127.0.0.1:{self.ingest_port}/webhooks/whatsapp"

    @property
    def database_url(self) -> str:
        """The MongoDB URL, or the embedded server's one recorded under the data dir."""
        if self.mongodb_url:
            return self.mongodb_url
        recorded = self.data_dir / "mongodb.url"
        if recorded.exists():
            return recorded.read_text().strip()
        raise SettingsError(
            "RELAY_MONGODB_URL is not set and no embedded database is running here: "
            "start one with `relay up` from this directory, or set RELAY_MONGODB_URL."
        )


def production_problems(settings: Settings) -> list[str]:
    """Why ``settings`` may not run in production (empty outside ``RELAY_ENV=production``): one
    ``RELAY_<NAME>: …`` line per variable still holding a built-in development secret, with the
    fix."""
    if not settings.production:
        return []
    fix = f"set it to a long random value (e.g. `{NEW_SECRET_HINT}`)"
    problems = []
    for name, value, dev, how in (
        ("RELAY_WHATSAPP_APP_SECRET", settings.whatsapp_app_secret, DEV_APP_SECRET,
         "set it to your Meta app's secret (App settings > Basic)"),
        ("RELAY_WHATSAPP_VERIFY_TOKEN", settings.whatsapp_verify_token, DEV_VERIFY_TOKEN,
         fix + " and give Meta the same one when you subscribe the webhook"),
    ):
        if not value.strip() or value == dev:
            problems.append(f"{name}: the built-in development value (or empty); {how}")
    if DEV_SECRET_KEY in settings.secret_keys:
        problems.append(
            "RELAY_SECRET_KEY: holds the built-in development key; " + fix + " (tokens stored "
            "under the old key: run `relay admin rotate-tokens` once with RELAY_ENV=development "
            "and RELAY_SECRET_KEY=<new key>,<old key>)")
    if urlsplit(settings.amqp_url).username == DEV_AMQP_USER:
        problems.append("RELAY_AMQP_URL: uses RabbitMQ's built-in `guest` user; create a user "
                        "for Relay and put its name and password in the URL")
    if problems:
        problems.insert(0, "RELAY_ENV: production refuses the built-in development secrets:")
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`SettingsError` naming bad variables."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if not error["loc"]:  # a whole-model check: its lines name their variables
                lines.append(error["msg"].removeprefix("Value error, "))
                continue
            lines.append(f"RELAY_{str(error['loc'][0]).upper()}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce ``settings`` in a child process."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        key = f"RELAY_{name.upper()}"
        env[key] = ",".join(value) if isinstance(value, list) else str(value)
    return env
