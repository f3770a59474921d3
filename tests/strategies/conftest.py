"""Fixtures for the strategy tests: test-only strategies, a gate in Redis, real workers, and
both scheduler backends (fixtures from tests/scheduling). Helpers are in helpers.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import redis
from django.conf import settings

import tests.strategies.plugins  # noqa: F401 - registers the test-only strategies here too
from tests.processes import ManagedProcess
from tests.scheduling.fixtures import (  # noqa: F401 - fixtures
    backend_name,
    recording_worker,
    run_log,
    scheduler_process,
    use_backend,
)
from tests.strategies.helpers import start_strategy_worker

if TYPE_CHECKING:
    pass


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def gate(redis_client: redis.Redis) -> Iterator[str]:
    """A unique gate name for GateStrategy; opened at the end so no worker waits on."""
    name = f"gate-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.set(f"{name}:open", 1)


@pytest.fixture(scope="module")
def strategy_worker(django_db_setup: None) -> Iterator[tuple[ManagedProcess, str]]:
    """A two-process worker shared by a module's tests; yields (worker, its queue)."""
    worker, queue = start_strategy_worker(concurrency=2)
    yield worker, queue
    worker.stop()
