"""Sweeps on real backtest workers: results equal single backtests; a killed worker loses and
repeats no set."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from strategies.sweeps.models import SweepSet
from strategies.sweeps.services import sweep_create
from tests.factories import MarketFactory, UserFactory
from tests.faults.helpers import pool_children
from tests.processes import ManagedProcess, start_celery_worker, wait_for
from tests.sweeps.helpers import (
    candles_add,
    closes_path,
    done_count,
    single_backtest,
    sweep_data,
    wait_sweep,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def backtest_worker() -> Iterator[ManagedProcess]:
    worker = start_celery_worker(concurrency=2, queues="backtests")
    yield worker
    worker.stop()


def test_every_set_of_a_sweep_equals_its_single_backtest(backtest_worker: ManagedProcess) -> None:
    market = MarketFactory()
    candles_add(market, closes_path(700))
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(market, hours=700))

    wait_sweep(sweep.pk)

    rows = list(SweepSet.objects.filter(sweep=sweep))
    assert len(rows) == 4 * 5  # every fast is below every slow: none refused
    assert {row.evaluations for row in rows} == {1}
    traded = [row for row in rows if row.figures["trades"] > 0]
    assert len(traded) > len(rows) // 2
    for row in rows:
        figures, trades_hash = single_backtest(sweep, row.parameters)
        assert row.figures["trades_hash"] == trades_hash, row.parameters
        assert {k: v for k, v in row.figures.items() if k != "trades_hash"} == figures


def test_a_pool_process_and_then_a_whole_worker_killed_mid_sweep_lose_and_repeat_no_set() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(30_000))
    space = {"fast": {"min": 2, "max": 9, "step": 1}, "slow": {"min": 10, "max": 60, "step": 2}}
    data = sweep_data(market, hours=30_000, space=space, chunk_size=8)
    worker = start_celery_worker(concurrency=2, queues="backtests")
    try:
        sweep = sweep_create(owner=UserFactory(), data=data)
        total = sweep.sets.count()
        wait_for(lambda: done_count(sweep.pk) >= total // 4, 240, "a quarter of the sets")
        for child in pool_children(worker):  # both busy with a chunk: each is redelivered
            os.kill(child, signal.SIGKILL)
        wait_for(lambda: done_count(sweep.pk) >= total // 2, 240, "half of the sets")
        lost_log = worker.log()
        worker.kill(signal.SIGKILL)  # every process: its messages wait in Redis, unacked
        worker.process.wait(10)
        stopped_at = done_count(sweep.pk)
        worker = start_celery_worker(concurrency=2, queues="backtests")
        call_command("sweeps_resume", stdout=io.StringIO())
        wait_sweep(sweep.pk, timeout=400)
    finally:
        worker.stop()

    rows = SweepSet.objects.filter(sweep=sweep)
    assert total == 8 * 26
    assert stopped_at < total
    assert "WorkerLostError" in lost_log  # the pool process died holding a chunk
    assert rows.filter(done_at__isnull=False).count() == total  # lost: 0
    assert sorted(set(rows.values_list("evaluations", flat=True))) == [1]  # repeated: 0
