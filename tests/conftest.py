"""Test session set-up: real PostgreSQL and Redis (throw-away embedded ones unless
TEST_DATABASE_URL / TEST_REDIS_URL are set), configured before Django loads its settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from cryptography.fernet import Fernet

from marketdata.simulator import SimulatedExchange
from tests import processes
from tests.processes import ManagedProcess, start_celery_worker
from tests.session import is_xdist_controller, servers_start, servers_stop

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

    from marketdata.models import Exchange, ExchangeAccount


def pytest_configure(config: pytest.Config) -> None:
    """Runs before pytest-django's own pytest_configure, which then calls django.setup()."""
    if is_xdist_controller(config):
        # It only hands tests out: no servers, no Django. Its workers inherit its environment,
        # and pytest-django would set Django up from it before their own servers start.
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
        return
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = servers_start(config)
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "tests-only-" + os.urandom(16).hex()
    os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ.setdefault("SCHEDULER_BACKEND", "celery")
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - loading settings now lets pytest-django set Django up


def pytest_unconfigure(config: pytest.Config) -> None:
    servers_stop()


# --- Test tiers: `make test-fast` deselects `integration`, so it must hold every test that
# starts a process. Tests using a process fixture are marked here; any other test that starts
# one unmarked fails (tests.processes checks), so the fast tier cannot go stale.

PROCESS_FIXTURES = {
    "browser",
    "celery_worker",
    "flower",
    "live_server",
    "page",
    "postgres_outage",  # halts and restarts the session's PostgreSQL
    "recording_worker",
    "redis_outage",  # stops and starts the session's Redis
    "scheduler_process",
    "strategy_worker",
}
PROCESS_PACKAGES = ("tests/browser/", "tests/faults/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.as_posix()
        in_package = any(package in path for package in PROCESS_PACKAGES)
        if in_package or PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    # Files with a process test first, each file's tests kept together and in order: pytest-xdist
    # hands whole files out in this order (`--dist loadfile`), so the long files start at once
    # and the quick ones fill the gaps at the end instead of one long file finishing last.
    with_processes = {item.path for item in items if item.get_closest_marker("integration")}
    items.sort(key=lambda item: item.path not in with_processes)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    processes.current_test = item
    try:
        return (yield)
    finally:
        processes.current_test = None


# Kombu's exchange-to-queue bindings: a worker shared across tests keeps its queues.
KEEP_KEYS = (b"_kombu.binding.",)


@pytest.fixture(autouse=True)
def broker_empty_for_processes(request: pytest.FixtureRequest) -> None:
    """Each process test starts on an empty Redis: what earlier tests left queued (messages a
    stopped worker handed back, firings a stopped beat published, retries with a countdown,
    leader locks, cache keys) would otherwise reach this test's workers and beats. The
    exchange bindings stay: a worker shared across tests keeps its queues."""
    if request.node.get_closest_marker("integration") is None:
        return
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        stale = [key for key in client.scan_iter(count=1000) if not key.startswith(KEEP_KEYS)]
        if stale:
            client.delete(*stale)
    finally:
        client.close()


@pytest.fixture(scope="module")
def celery_worker(django_db_setup: None, django_db_blocker: object) -> Iterator[ManagedProcess]:
    """A real `celery worker` process on the test database and Redis, for a module's tests.

    Module-scoped, not session-scoped: a worker left running after its module takes the
    messages of the next module's own workers (and their log lines). Tests that use it must
    commit their data: mark them django_db(transaction=True).
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
def plain_static_files(settings: Settings) -> None:
    """For tests that render pages: production's static storage wants collectstatic's
    manifest, which tests do not build; the apps' static files are served as they are."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


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
