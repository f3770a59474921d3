"""Test session set-up: real PostgreSQL and Redis (throw-away embedded ones unless
TEST_DATABASE_URL / TEST_REDIS_URL are set), configured before Django loads its settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from cryptography.fernet import Fernet

from marketdata.simulator import SimulatedExchange
from project.embedded import EphemeralStack
from tests.processes import ManagedProcess, start_celery_worker

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

    from marketdata.models import Exchange, ExchangeAccount

_stack = EphemeralStack()


def pytest_configure(config: pytest.Config) -> None:
    """Runs before pytest-django's own pytest_configure, which then calls django.setup()."""
    os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or _stack.start_postgres()
    os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL") or _stack.start_redis()
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "tests-only-" + os.urandom(16).hex()
    os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ.setdefault("SCHEDULER_BACKEND", "celery")
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - loading settings now lets pytest-django set Django up


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.stop()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, django_db_blocker: object) -> Iterator[ManagedProcess]:
    """A real `celery worker` process on the test database and Redis, for the whole session.

    Tests that use it must commit their data: mark them django_db(transaction=True).
    """
    worker = start_celery_worker()
    yield worker
    worker.stop()


# --- The simulated exchange, reached only through real ccxt ---------------------------------
# Django models are imported inside the fixtures: this conftest loads before Django is set up.

API_KEY, API_SECRET = "key-1", "secret-1"


@pytest.fixture
def simulator() -> Iterator[SimulatedExchange]:
    sim = SimulatedExchange(port=0, accounts={API_KEY: API_SECRET}).start()
    yield sim
    sim.stop()


@pytest.fixture
def fast_retries(settings: Settings) -> Settings:
    settings.EXCHANGE_RETRY_BASE_DELAY = 0.05
    settings.EXCHANGE_RETRY_MAX_DELAY = 5.0
    settings.EXCHANGE_RETRY_ATTEMPTS = 3
    return settings


@pytest.fixture
def exchange(simulator: SimulatedExchange, fast_retries: Settings) -> Exchange:
    """An exchange row on the simulator with its markets loaded through ccxt."""
    from marketdata.services import markets_sync
    from tests.factories import ExchangeFactory

    exchange = ExchangeFactory(api_url=simulator.url)
    fast_retries.EXCHANGE_RATE_LIMITS = {exchange.name: 0}
    markets_sync(exchange_id=exchange.pk)
    return exchange


@pytest.fixture
def account(exchange: Exchange) -> ExchangeAccount:
    from tests.factories import ExchangeAccountFactory

    return ExchangeAccountFactory(exchange=exchange, api_key=API_KEY, api_secret=API_SECRET)
