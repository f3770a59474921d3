"""Settings come from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from project import env
from project.devstack import embedded
from project.env import SettingError
from tests.processes import run_process


def load_settings(
    show: str = "settings.SCHEDULER_BACKEND", **overrides: str | None
) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter, as a process starting up would, and print
    `show` (an expression of `settings`); an override of None unsets the variable."""
    environ = {k: v for k, v in os.environ.items() if k not in overrides}
    environ.update({k: v for k, v in overrides.items() if v is not None})
    return run_process(
        [
            sys.executable,
            "-c",
            f"import django; django.setup(); from django.conf import settings; print({show})",
        ],
        env=environ,
        timeout=60,
    )


def test_postgres_url_with_a_socket_folder_parses_to_host_and_name() -> None:
    config = env.database("DATABASE_URL", "postgresql://postgres@%2Fsrv%2Ftw%2Fpg/tickwork")

    assert config["HOST"] == "/srv/tw/pg"
    assert config["NAME"] == "tickwork"
    assert config["ENGINE"] == "django.db.backends.postgresql"


def test_postgres_url_with_a_host_query_parameter_uses_it_as_the_socket_folder() -> None:
    config = env.database("DATABASE_URL", "postgresql://postgres@/tickwork?host=/srv/tw/pg")

    assert config["HOST"] == "/srv/tw/pg"
    assert "host" not in config.get("OPTIONS", {})


def test_postgres_url_with_host_port_and_password_parses() -> None:
    config = env.database("DATABASE_URL", "postgres://app:s3cret@db.internal:6543/tick")

    assert (config["HOST"], config["PORT"], config["USER"]) == ("db.internal", 6543, "app")
    assert config["PASSWORD"] == "s3cret"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "expected a postgresql:// URL"),
        ("postgresql://user@host", "names no database"),
        ("not a url", "expected a postgresql:// URL"),
    ],
)
def test_bad_database_url_is_rejected_naming_the_variable(url: str, message: str) -> None:
    with pytest.raises(SettingError, match=message) as error:
        env.database("DATABASE_URL", url)

    assert str(error.value).startswith("DATABASE_URL: ")


def test_database_error_never_echoes_the_password() -> None:
    with pytest.raises(SettingError) as error:
        env.database("DATABASE_URL", "mysql://app:hunter22@h/db")

    assert "hunter22" not in str(error.value)


@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://", "redis://host:port/0"])
def test_bad_redis_url_is_rejected(url: str) -> None:
    with pytest.raises(SettingError, match=r"^REDIS_URL: "):
        env.redis_url("REDIS_URL", url)


def test_scheduler_backend_names_map_to_classes() -> None:
    assert env.scheduler_backend("SCHEDULER_BACKEND", "celery").endswith("CeleryBeatScheduler")
    assert env.scheduler_backend("SCHEDULER_BACKEND", " APScheduler ").endswith(
        "APSchedulerScheduler"
    )


def test_unknown_scheduler_backend_lists_the_choices() -> None:
    with pytest.raises(SettingError, match="unknown backend 'cron'; choose one of: apscheduler"):
        env.scheduler_backend("SCHEDULER_BACKEND", "cron")


def test_encryption_keys_must_be_fernet_keys() -> None:
    with pytest.raises(SettingError, match="key 2 is not a Fernet key"):
        env.encryption_keys(
            "FIELD_ENCRYPTION_KEYS", "Qm9ndXMga2V5IHRoYXQgaXMgMzIgYnl0ZXMgbG9uZyE=,short"
        )


@pytest.mark.parametrize("raw", ["maybe", "2"])
def test_boolean_refuses_anything_but_true_or_false(raw: str) -> None:
    with pytest.raises(SettingError, match=r"^DEBUG: expected true or false"):
        env.boolean("DEBUG", {"DEBUG": raw}, default=False)


def test_flower_basic_auth_needs_user_and_password() -> None:
    with pytest.raises(SettingError, match="FLOWER_BASIC_AUTH"):
        env.basic_auth("FLOWER_BASIC_AUTH", "admin")


@pytest.mark.integration  # a fresh interpreter imports the settings
def test_good_environment_starts() -> None:
    result = load_settings(SCHEDULER_BACKEND="apscheduler")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tasks.scheduling.apscheduler_backend.APSchedulerScheduler"


@pytest.mark.integration  # a fresh interpreter imports the settings
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCHEDULER_BACKEND", "cron"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("REDIS_URL", "http://localhost"),
        ("CELERY_TASK_TIME_LIMIT", "10"),
        ("DEBUG", "perhaps"),
    ],
)
def test_bad_value_stops_start_up_with_one_message_naming_it(variable: str, value: str) -> None:
    result = load_settings(**{variable: value})

    assert result.returncode != 0
    assert f"SettingError: {variable}: " in result.stderr.splitlines()[-1]


@pytest.mark.integration  # a fresh interpreter imports the settings
def test_production_requires_a_secret_key() -> None:
    result = load_settings(SECRET_KEY=None, DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY: must be set when DEBUG is off" in result.stderr


@pytest.mark.integration  # a fresh interpreter imports the settings
@pytest.mark.parametrize(
    ("unset", "named"),
    [
        (("DATABASE_URL",), "DATABASE_URL"),
        (("REDIS_URL",), "REDIS_URL"),
        (("DATABASE_URL", "REDIS_URL"), "DATABASE_URL and REDIS_URL"),
    ],
)
def test_production_refuses_to_start_without_database_or_redis_url(
    unset: tuple[str, ...], named: str
) -> None:
    result = load_settings(DEBUG="0", **dict.fromkeys(unset))

    assert result.returncode != 0
    assert f"SettingError: {named}: must be set when DEBUG is off" in result.stderr


@pytest.mark.integration  # a fresh interpreter imports the settings
def test_debug_without_database_or_redis_url_falls_back_to_the_embedded_servers() -> None:
    shown = "settings.DATABASES['default']['HOST'], settings.REDIS_URL"

    result = load_settings(DEBUG="1", DATABASE_URL=None, REDIS_URL=None, show=shown)

    assert result.returncode == 0, result.stderr
    embedded_host = env.database("DATABASE_URL", embedded.local_database_url())["HOST"]
    assert result.stdout.split() == [embedded_host, embedded.local_redis_url()]


@pytest.mark.integration  # a fresh interpreter imports the settings
def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_process(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={
            **os.environ,
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "1",
            "SECRET_KEY": "x" * 20 + os.urandom(30).hex(),
        },
    )

    assert result.returncode == 0, result.stdout + result.stderr
