"""A scheduler's start-up does not grow with its jobs: the start-up hooks (the strategy jobs'
`jobs_sync`) make the same statements and read no strategy row at 3 jobs and at 40, once the
backend has synced before. Counted, not timed (bench/beat.py and bench/apscheduler_scale.py
time it at 1,000,000 and 100,000 jobs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from sqlalchemy import event

from project.kernel.scheduling import Scheduler
from strategies.models import Strategy
from strategies.reconcile import strategy_jobs_reconcile
from tasks.scheduling.hooks import startup_hooks_run
from tests.factories import StrategyFactory


@contextmanager
def statements_counted(backend: Scheduler) -> Iterator[list[str]]:
    """Every statement sent to the database, by Django and by the job store's own engine."""
    statements: list[str] = []
    engine = getattr(backend, "_store", None) and backend._store.engine  # type: ignore[attr-defined]

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql)

    if engine is not None:
        event.listen(engine, "before_cursor_execute", record)
    try:
        with CaptureQueriesContext(connection) as django:
            yield statements
        statements.extend(query["sql"] for query in django.captured_queries)
    finally:
        if engine is not None:
            event.remove(engine, "before_cursor_execute", record)


def fleet_of(count: int, backend: Scheduler) -> None:
    """`count` active strategies saved a day ago, their jobs made by an earlier full sync."""
    Strategy.objects.all().delete()
    made = StrategyFactory.create_batch(count, is_active=True)
    long_ago = timezone.now() - timedelta(days=1)
    Strategy.objects.filter(pk__in=[s.pk for s in made]).update(updated_at=long_ago)
    strategy_jobs_reconcile(scheduler=backend, full=True)


def start_up_cost(count: int, backend: Scheduler, caplog: pytest.LogCaptureFixture) -> int:
    fleet_of(count, backend)
    caplog.clear()
    with statements_counted(backend) as statements:
        startup_hooks_run(scheduler=backend)
    assert "Reconciled 0 strategy jobs saved since the last sync" in caplog.text
    return len(statements)


def test_start_up_makes_the_same_statements_and_reads_no_strategy_at_any_size(
    backend: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="strategies.reconcile")

    few = start_up_cost(3, backend, caplog)
    many = start_up_cost(40, backend, caplog)

    assert few == many
    assert len(backend.get_jobs()) == 40


def test_start_up_reads_the_strategies_saved_since_the_last_sync(
    backend: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="strategies.reconcile")
    fleet_of(10, backend)
    retimed = Strategy.objects.order_by("pk").first()
    Strategy.objects.filter(pk=retimed.pk).update(interval_seconds=120, updated_at=timezone.now())

    startup_hooks_run(scheduler=backend)

    assert "Reconciled 1 strategy jobs saved since the last sync (created 0, updated 1" in (
        caplog.text
    )
    assert backend.get_job(retimed.job_id).trigger.seconds == 120
