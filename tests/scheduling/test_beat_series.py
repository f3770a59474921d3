"""Strategies under a real beat and worker with batching on: a tick's strategies on one series
run from one message named after the series and tick; each keeps its own firing and run, and
no task result is stored (the runs are the result)."""

from __future__ import annotations

import pytest
from django_celery_results.models import TaskResult

from strategies.models import Order, StrategyRun
from tasks.models import Firing
from tasks.scheduling.messages import tick_text
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, start_beat, wait_for
from tests.strategies.helpers import add_candles

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVERY = 2


def test_a_ticks_strategies_on_one_series_run_from_one_message_each_with_its_own_run(
    recording_worker: ManagedProcess,
) -> None:
    market, other = MarketFactory(), MarketFactory()
    for each in (market, other):
        add_candles(each, [100, 100])
    dca = {"parameters": {"quote_amount": "10"}, "interval_seconds": EVERY}
    together = [StrategyFactory(market=market, **dca) for _ in range(3)]
    alone = StrategyFactory(market=other, **dca)
    beat = start_beat(STRATEGY_BATCHING="1")
    try:
        wait_for(
            lambda: all(
                StrategyRun.objects.filter(strategy=s, status="succeeded").count() >= 2
                for s in [*together, alone]
            ),
            timeout=90,
            what="two runs of every strategy",
        )
    finally:
        beat.stop()

    series = f"series_{market.exchange.name}:{market.symbol}_1h@"
    for run in StrategyRun.objects.filter(strategy__in=together, status="succeeded"):
        assert run.celery_task_id == series + tick_text(run.scheduled_tick)
        firing = Firing.objects.get(job_name=run.strategy.job_id, scheduled_tick=run.scheduled_tick)
        assert firing.status == "published"
        # Started and ended by the series' task: the beat neither publishes it again nor
        # records it missed.
        assert firing.task_started_at is not None
        assert firing.task_ended_at is not None
        assert firing.republished == 0
        assert firing.celery_task_id == f"{run.strategy.job_id}@{tick_text(run.scheduled_tick)}"
    for run in StrategyRun.objects.filter(strategy=alone, status="succeeded"):
        assert run.celery_task_id == f"{alone.job_id}@{tick_text(run.scheduled_tick)}"
    units: dict[object, set[str]] = {}
    for tick, task_id in StrategyRun.objects.filter(strategy__in=together).values_list(
        "scheduled_tick", "celery_task_id"
    ):
        units.setdefault(tick, set()).add(task_id)
    assert all(len(task_ids) == 1 for task_ids in units.values()), units
    assert Order.objects.filter(strategy__in=together).count() >= 6
    # The runs are the result: no result row is stored for a strategy message the beat sent.
    task_ids = StrategyRun.objects.values_list("celery_task_id", flat=True)
    assert not TaskResult.objects.filter(task_id__in=list(task_ids)).exists()
