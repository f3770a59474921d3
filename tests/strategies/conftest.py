"""Fixtures for the strategy tests: candles on a market, test-only strategies, real workers,
and both scheduler backends (fixtures from tests/scheduling)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import redis
from django.conf import settings
from django.utils import timezone

import tests.strategies.plugins  # noqa: F401 - registers the test-only strategies here too
from tests.processes import ManagedProcess, start_celery_worker
from tests.scheduling.fixtures import (  # noqa: F401 - fixtures
    backend_name,
    recording_worker,
    run_log,
    scheduler_process,
    use_backend,
)

if TYPE_CHECKING:
    from marketdata.models import Candle, Market


def add_candles(
    market: Market,
    closes: list[Decimal | int | str],
    *,
    timeframe: str = "1h",
    ended_at: datetime | None = None,
) -> list[Candle]:
    """Closed candles with these closes, oldest first; the newest ends at `ended_at`
    (default: the latest timeframe boundary, i.e. fresh data)."""
    # Imported here: pytest loads this module before Django is set up.
    from marketdata.models import TIMEFRAME_DURATIONS, Candle

    duration = TIMEFRAME_DURATIONS[timeframe]
    if ended_at is None:
        now = timezone.now()
        ended_at = now - (now - datetime(2000, 1, 1, tzinfo=now.tzinfo)) % duration
    first_open = ended_at - duration * len(closes)
    return Candle.objects.bulk_create(
        Candle(
            market=market,
            timeframe=timeframe,
            open_time=first_open + duration * index,
            open=Decimal(close),
            high=Decimal(close),
            low=Decimal(close),
            close=Decimal(close),
            volume=Decimal(1),
            is_closed=True,
        )
        for index, close in enumerate(closes)
    )


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


def start_strategy_worker(concurrency: int, **env: str) -> tuple[ManagedProcess, str]:
    """A real worker with the test strategies loaded, on a queue of its own."""
    queue = f"strategies-{uuid.uuid4().hex[:8]}"
    worker = start_celery_worker(concurrency=concurrency, queues=queue, **env)
    return worker, queue


@pytest.fixture(scope="module")
def strategy_worker(django_db_setup: None) -> Iterator[tuple[ManagedProcess, str]]:
    """A two-process worker shared by a module's tests; yields (worker, its queue)."""
    worker, queue = start_strategy_worker(concurrency=2)
    yield worker, queue
    worker.stop()


def tick(hours_ago: int = 0) -> datetime:
    """A tick on the hourly grid, `hours_ago` hours before the current one."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)
