"""A chunk records its sets' results together (at most once per BACKTEST_WRITE_SECONDS), and a
batch keeps each row's first result: a repeat is only counted."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from strategies.sweeps.models import SweepSet
from strategies.sweeps.running import chunk_run, set_record, sets_record
from strategies.sweeps.services import sweep_create
from tests.factories import MarketFactory, UserFactory
from tests.sweeps.helpers import candles_add, closes_path, sweep_data

pytestmark = pytest.mark.django_db


def sweep_of_300_hours() -> object:
    market = MarketFactory()
    candles_add(market, closes_path(300))
    return sweep_create(owner=UserFactory(), data=sweep_data(market, hours=300))


def result_writes(settings: Settings, seconds: int, chunk: int) -> tuple[int, int]:
    """Sets a chunk ran and the statements that wrote results to its rows."""
    sweep = sweep_of_300_hours()
    settings.BACKTEST_WRITE_SECONDS = seconds
    with CaptureQueriesContext(connection) as queries:
        ran = chunk_run(sweep_id=sweep.pk, chunk=chunk)
    writes = [q for q in queries if q["sql"].startswith('UPDATE "strategies_sweepset"')]
    return ran, len(writes)


def test_a_chunk_writes_its_results_in_one_statement_unless_told_to_write_each(
    settings: Settings,
) -> None:
    spaced = result_writes(settings, 600, chunk=0)
    each = result_writes(settings, 0, chunk=0)

    assert spaced == (4, 1)
    assert each == (4, 4)


def test_a_batch_keeps_a_rows_first_result_and_counts_the_repeat() -> None:
    sweep = sweep_of_300_hours()
    rows = list(SweepSet.objects.filter(sweep=sweep, chunk=1).order_by("id"))
    set_record(sweep=sweep, row=rows[0], outcome={"total_return_pct": 9.0, "trades": 3})

    outcome = {"total_return_pct": 1.0, "trades": 3}
    sets_record(sweep=sweep, outcomes=[(row, dict(outcome)) for row in rows])

    stored = list(SweepSet.objects.filter(sweep=sweep, chunk=1).order_by("id"))
    assert [row.figures["total_return_pct"] for row in stored] == [9.0] + [1.0] * (len(rows) - 1)
    assert [row.evaluations for row in stored] == [2] + [1] * (len(rows) - 1)
    assert all(row.done_at is not None for row in stored)
