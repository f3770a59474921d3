"""Reading settings from the environment, with one clear message naming the bad variable."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

SCHEDULER_BACKENDS = {
    "celery": "tasks.scheduling.celery_backend.CeleryBeatScheduler",
    "apscheduler": "tasks.scheduling.apscheduler_backend.APSchedulerScheduler",
}
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}
REDIS_SCHEMES = {"redis", "rediss"}


class SettingError(ImproperlyConfigured):
    """A variable is set to something Tickwork cannot use."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


def database(name: str, url: str) -> dict[str, Any]:
    """Parse a PostgreSQL URL (a percent-encoded socket folder may stand for the host)."""
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise SettingError(name, f"expected a postgresql:// URL, got {_redact(url)!r}")
    if not parts.path.strip("/"):
        raise SettingError(name, f"the URL names no database: {_redact(url)!r}")
    try:
        config = environ.Env.db_url_config(url)
    except (ValueError, KeyError) as error:
        raise SettingError(name, f"cannot parse {_redact(url)!r}: {error}") from error
    # A Unix socket folder: percent-encoded in the host (libpq style) or given as ?host=.
    socket_folder = config.get("OPTIONS", {}).pop("host", None)
    config["HOST"] = socket_folder or unquote(config["HOST"])
    if not config.get("HOST"):
        raise SettingError(name, f"the URL names no host or socket folder: {_redact(url)!r}")
    config["CONN_MAX_AGE"] = 60
    config["CONN_HEALTH_CHECKS"] = True
    return config


def redis_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES or not parts.hostname:
        raise SettingError(name, f"expected redis://host:port/db, got {_redact(url)!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise SettingError(name, f"bad port in {_redact(url)!r}") from error
    return url


def scheduler_backend(name: str, value: str) -> str:
    """The dotted path of the scheduler class for a backend's short name."""
    try:
        return SCHEDULER_BACKENDS[value.strip().lower()]
    except KeyError:
        choices = ", ".join(sorted(SCHEDULER_BACKENDS))
        raise SettingError(name, f"unknown backend {value!r}; choose one of: {choices}") from None


def encryption_keys(name: str, value: str) -> list[str]:
    """Comma-separated Fernet keys; the first encrypts, all decrypt."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in value.split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise SettingError(
                name, f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def basic_auth(name: str, value: str) -> str:
    """`user:password` pairs, comma-separated, as Flower takes them."""
    for pair in filter(None, (item.strip() for item in value.split(","))):
        user, _, password = pair.partition(":")
        if not user or not password:
            raise SettingError(name, "expected user:password (comma-separated for several)")
    return value


def required_unless_debug(names: tuple[str, ...], environ_: Mapping[str, str], debug: bool) -> None:
    """Production never falls back to the embedded servers of a developer's var/ folder."""
    missing = [name for name in names if not environ_.get(name, "").strip()]
    if missing and not debug:
        raise SettingError(
            " and ".join(missing),
            "must be set when DEBUG is off (only DEBUG falls back to the embedded servers)",
        )


def boolean(name: str, environ_: Mapping[str, str], default: bool) -> bool:
    raw = environ_.get(name)
    if raw is None or raw == "":
        return default
    truthy, falsy = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
    if raw.strip().lower() in truthy:
        return True
    if raw.strip().lower() in falsy:
        return False
    raise SettingError(name, f"expected true or false, got {raw!r}")


def integer(name: str, environ_: Mapping[str, str], default: int, minimum: int = 0) -> int:
    raw = environ_.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(name, f"expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingError(name, f"must be at least {minimum}, got {value}")
    return value


def integer_mapping(name: str, environ_: Mapping[str, str]) -> dict[str, int]:
    """`key=number` pairs, comma-separated, e.g. `1m=30,1h=730`; unset gives {}."""
    values: dict[str, int] = {}
    for pair in filter(None, (item.strip() for item in environ_.get(name, "").split(","))):
        key, sep, raw = pair.partition("=")
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if not sep or not key.strip() or value < 0:
            raise SettingError(name, f"expected key=whole number pairs, got {pair!r}")
        values[key.strip()] = value
    return values


def decimal(
    name: str,
    environ_: Mapping[str, str],
    default: Decimal,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    raw = environ_.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise SettingError(name, f"expected a number, got {raw!r}") from None
    if not value.is_finite():
        raise SettingError(name, f"expected a finite number, got {raw!r}")
    if minimum is not None and value < minimum:
        raise SettingError(name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingError(name, f"must be at most {maximum}, got {value}")
    return value


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
