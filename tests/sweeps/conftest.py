"""Sweep test fixtures: Optuna's engine in this process is closed before the test database goes;
both scheduler backends and the processes that fire their jobs (fixtures from tests/scheduling)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scheduling.fixtures import (  # noqa: F401 - fixtures
    backend_name,
    recording_worker,
    scheduler_process,
    use_backend,
)


@pytest.fixture(autouse=True, scope="session")
def _optuna_engine_closed(django_db_setup: None) -> Iterator[None]:
    """Set up after the test database, so torn down (its connections closed) before it."""
    yield
    from strategies.sweeps.optimise import storage

    if storage.cache_info().currsize:
        storage().engine.dispose()
