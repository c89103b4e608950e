"""``RELAY_ENV=production``: every built-in development secret is refused, naming its variable,
by the settings and by every entry point of the ``relay`` command; an unset
``RELAY_WHATSAPP_API_URL`` means Meta's Graph API, never the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import (
    DEV_APP_SECRET,
    DEV_SECRET_KEY,
    DEV_VERIFY_TOKEN,
    META_API_URL,
    SettingsError,
    load_settings,
    production_problems,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
# Production values for every secret; each test puts one development value back.
GOOD = {
    "whatsapp_app_secret": "a3f9c1e07b5d4e2f8a6c0b1d9e7f2a4c",
    "whatsapp_verify_token": "Qm9vdHN0cmFwIHRva2VuIGZvciBwcm9k",
    "secret_key": "kJ8nX2vQ7pL4wR9tY6uE3zA1sD5fG0hB",
    "amqp_url": "amqp://relay:Zx81qPw0@rabbitmq.internal:5672/",
}
DEVELOPMENT_VALUES = {
    "RELAY_WHATSAPP_APP_SECRET": ("whatsapp_app_secret", DEV_APP_SECRET),
    "RELAY_WHATSAPP_VERIFY_TOKEN": ("whatsapp_verify_token", DEV_VERIFY_TOKEN),
    "RELAY_SECRET_KEY": ("secret_key", DEV_SECRET_KEY),
    "RELAY_AMQP_URL": ("amqp_url", "amqp://guest:guest@127.0.0.1:5672/"),
}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)


class TestSettings:
    def test_development_is_the_default_and_keeps_the_built_in_secrets(self) -> None:
        settings = load_settings()
        assert settings.env == "development" and not settings.production
        assert settings.secret_key == DEV_SECRET_KEY
        assert production_problems(settings) == []

    def test_production_with_real_secrets_starts(self) -> None:
        settings = load_settings(env="production", **GOOD)
        assert settings.production and production_problems(settings) == []

    @pytest.mark.parametrize("variable", sorted(DEVELOPMENT_VALUES))
    def test_each_development_secret_is_refused_by_name(self, variable: str) -> None:
        field, value = DEVELOPMENT_VALUES[variable]
        with pytest.raises(SettingsError) as caught:
            load_settings(env="production", **{**GOOD, field: value})
        message = str(caught.value)
        assert f"{variable}:" in message and "RELAY_ENV" in message
        others = set(DEVELOPMENT_VALUES) - {variable}
        assert not [name for name in others if f"{name}:" in message]

    def test_the_environment_variable_switches_production_on(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RELAY_ENV", "Production")
        with pytest.raises(SettingsError, match="RELAY_SECRET_KEY:"):
            load_settings()

    def test_an_unknown_environment_is_refused(self) -> None:
        with pytest.raises(SettingsError, match=r"RELAY_ENV: .*development or production"):
            load_settings(env="staging")

    @pytest.mark.parametrize("empty", ["whatsapp_app_secret", "whatsapp_verify_token"])
    def test_an_empty_secret_is_refused_in_production(self, empty: str) -> None:
        with pytest.raises(SettingsError, match=f"RELAY_{empty.upper()}:"):
            load_settings(env="production", **{**GOOD, empty: " "})

    def test_the_development_key_is_refused_even_as_an_old_rotation_key(self) -> None:
        with pytest.raises(SettingsError, match="RELAY_SECRET_KEY:"):
            keys = f"{GOOD['secret_key']},{DEV_SECRET_KEY}"
            load_settings(env="production", **{**GOOD, "secret_key": keys})

    def test_the_fix_is_in_the_message(self) -> None:
        with pytest.raises(SettingsError) as caught:
            load_settings(env="production", **{**GOOD, "secret_key": DEV_SECRET_KEY})
        assert "secrets.token_urlsafe" in str(caught.value)


class TestCloudApiUrl:
    def test_unset_means_the_simulator_in_development(self) -> None:
        settings = load_settings(sim_port=8099)
        assert settings.uses_simulator
        assert settings.cloud_api_url == "http://127.0.0.1:8099"

    def test_unset_means_meta_in_production(self) -> None:
        settings = load_settings(env="production", **GOOD)
        assert not settings.uses_simulator
        assert settings.cloud_api_url == META_API_URL == "https://graph.facebook.com"

    def test_a_configured_url_wins_in_both(self) -> None:
        for env in ("development", "production"):
            settings = load_settings(env=env, whatsapp_api_url="https://proxy.example/", **GOOD)
            assert settings.cloud_api_url == "https://proxy.example"
            assert not settings.uses_simulator


ENTRY_POINTS = [
    ["serve", "gateway"], ["serve", "sender"], ["serve", "ingest"], ["serve", "stats"],
    ["sim"], ["up"], ["admin", "create-user", "ops"], ["admin", "create-key", "u", "--scopes",
                                                       "messages:read"],
    ["admin", "rotate-tokens"], ["stats", "rebuild"], ["dead-letters", "list"],
]


class TestEveryEntryPointRefuses:
    """Acceptance: ``RELAY_ENV=production`` with a development secret exits non-zero naming the
    variable, before connecting to anything (the broker and database named here do not exist, so
    a process that got past its settings would hang or fail differently)."""

    @pytest.mark.parametrize("argv", ENTRY_POINTS, ids=" ".join)
    def test_exits_non_zero_naming_the_variable(self, argv: list[str], tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        env.update({f"RELAY_{k.upper()}": v for k, v in GOOD.items()})
        env.update(RELAY_ENV="production", RELAY_SECRET_KEY=DEV_SECRET_KEY,
                   RELAY_AMQP_URL="amqp://relay:pw@127.0.0.1:1/",
                   RELAY_MONGODB_URL="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500",
                   RELAY_DATA_DIR=str(tmp_path / "relay"))
        done = subprocess.run([sys.executable, "-m", "relay.cli", *argv], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode != 0
        assert "RELAY_SECRET_KEY:" in done.stderr and "RELAY_ENV" in done.stderr
        assert "RELAY_WHATSAPP_APP_SECRET" not in done.stderr
        assert not (tmp_path / "relay").exists()  # refused before doing anything
