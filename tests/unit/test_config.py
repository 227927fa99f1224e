from __future__ import annotations

import base64
from pathlib import Path

import pytest

from vault.config import ConfigError, load_settings, settings_to_environ

KEY = base64.b64encode(b"k" * 32).decode()


def test_defaults_derive_from_data_dir_host_and_port() -> None:
    s = load_settings({})
    assert s.data_dir == Path("var")
    assert s.database_url == f"sqlite+aiosqlite:///{Path('var/vault.db').resolve()}"
    assert s.root_key_file == Path("var/root.key")
    assert s.log_key_file == Path("var/log.key")
    assert s.issuer == "http://127.0.0.1:8000"
    assert s.log_origin == "localhost/vault-log"


def test_environment_is_read_and_flags_override_it() -> None:
    env = {"VAULT_PORT": "9001", "VAULT_HOST": "0.0.0.0", "VAULT_LOG_ORIGIN": "vault.example/log"}
    s = load_settings(env, port=9100)
    assert (s.port, s.host, s.log_origin) == (9100, "0.0.0.0", "vault.example/log")
    assert s.issuer == "http://0.0.0.0:9100"


def test_none_flags_do_not_override() -> None:
    assert load_settings({"VAULT_PORT": "9001"}, port=None).port == 9001


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"VAULT_PORT": "eighty"}, "VAULT_PORT"),
        ({"VAULT_PORT": "70000"}, "VAULT_PORT"),
        ({"VAULT_WORKERS": "0"}, "VAULT_WORKERS"),
        ({"VAULT_DATABASE_URL": "mysql://db/vault"}, "VAULT_DATABASE_URL"),
        ({"VAULT_DATABASE_URL": "just-a-path.db"}, "VAULT_DATABASE_URL"),
        ({"VAULT_ROOT_KEY": "not base64!"}, "VAULT_ROOT_KEY"),
        ({"VAULT_ROOT_KEY": base64.b64encode(b"short").decode()}, "VAULT_ROOT_KEY"),
        ({"VAULT_ISSUER": "ftp://vault.example"}, "VAULT_ISSUER"),
        ({"VAULT_ISSUER": "https://vault.example/?x=1"}, "VAULT_ISSUER"),
        ({"VAULT_LOG_ORIGIN": "has space"}, "VAULT_LOG_ORIGIN"),
        ({"VAULT_LOG_LEVEL": "loud"}, "VAULT_LOG_LEVEL"),
        ({"VAULT_METRICS_PORT": "0"}, "VAULT_METRICS_PORT"),
        ({"VAULT_METRICS_PORT": "8000"}, "VAULT_METRICS_PORT"),  # the public port
        ({"VAULT_METRICS_TOKEN": "short"}, "VAULT_METRICS_TOKEN"),
        ({"VAULT_METRICS_HOST": "0.0.0.0"}, "VAULT_METRICS_HOST"),  # the listener has no authentication
        ({"VAULT_TRUSTED_PROXIES": "10.0.0.2,proxy.internal"}, "VAULT_TRUSTED_PROXIES"),
        ({"VAULT_TRUSTED_PROXIES": "10.0.0.0/33"}, "VAULT_TRUSTED_PROXIES"),
        ({"VAULT_METRICS_HOST": "192.0.2.7"}, "VAULT_METRICS_HOST"),
        ({"VAULT_METRICS_HOST": "metrics.example"}, "VAULT_METRICS_HOST"),
        ({"VAULT_METRICS_TOKEN": "a" * 31 + " " + "b" * 8}, "VAULT_METRICS_TOKEN"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.setting == setting
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_url_aliases_map_to_async_drivers(given: str, normalised: str) -> None:
    assert load_settings({"VAULT_DATABASE_URL": given}).database_url == normalised


def test_redacted_hides_secrets() -> None:
    s = load_settings({"VAULT_DATABASE_URL": "postgresql://vault:hunter2@db/vault", "VAULT_ROOT_KEY": KEY})
    shown = s.redacted()
    assert shown["root_key"] == "***"
    assert load_settings({"VAULT_METRICS_TOKEN": "t" * 40}).redacted()["metrics_token"] == "***"
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert load_settings({"VAULT_METRICS_HOST": host}).metrics_host == host
    assert shown["database_url"] == "postgresql+asyncpg://vault:***@db/vault"
    assert "hunter2" not in repr(shown)
    assert KEY not in repr(shown)


def test_settings_round_trip_through_environment() -> None:
    s = load_settings({"VAULT_ROOT_KEY": KEY}, port=8123, workers=3)
    assert load_settings(settings_to_environ(s)) == s


@pytest.mark.parametrize(
    ("env", "setting", "message"),
    [
        ({"VAULT_ROOT_KEY_PKCS11": "module=/m.so;token=T"}, "VAULT_ROOT_KEY_PKCS11", "missing key"),
        ({"VAULT_LOG_KEY_PKCS11": "module=/m.so;token=T;key=K;pin=1"}, "VAULT_LOG_KEY_PKCS11", "unknown part"),
        ({"VAULT_LOG_KEY_PKCS11": "module=/m.so;token=T;key=K;version=2"}, "VAULT_LOG_KEY_PKCS11", "no version"),
        ({"VAULT_ROOT_KEY_PKCS11": "module=/m.so;token=T;key=K"}, "VAULT_PKCS11_PIN_FILE", "is needed with"),
    ],
)
def test_bad_pkcs11_settings_name_the_variable(env: dict[str, str], setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings({"VAULT_PKCS11_PIN_FILE": "/p", **env} if "PIN" not in setting else env)
    assert refused.value.setting == setting


def test_pkcs11_settings_are_read() -> None:
    env = {"VAULT_ROOT_KEY_PKCS11": "module=/m.so;token=T;key=K;version=2", "VAULT_PKCS11_PIN_FILE": "/p"}
    s = load_settings(env)
    assert (s.root_key_pkcs11, s.pkcs11_pin_file, s.log_key_pkcs11) == (env["VAULT_ROOT_KEY_PKCS11"], Path("/p"), None)
