"""Strategy jobs under a real beat and worker: the tick reaches the run; a stopped strategy
whose old row still fires places no order."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from strategies.models import Order, Strategy, StrategyRun
from tasks.models import Firing
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, start_beat, wait_for
from tests.strategies.helpers import add_candles

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def old_row(strategy: Strategy) -> None:
    """A django-celery-beat row for the strategy every second, as another backend left it."""
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name=strategy.job_id,
        task="execute_single_strategy",
        interval=every,
        args=json.dumps([strategy.pk]),
    )


def test_a_stopped_strategys_old_row_fires_but_places_no_order(
    recording_worker: ManagedProcess,
) -> None:
    market = MarketFactory()
    add_candles(market, [100, 100])
    dca = {"market": market, "parameters": {"quote_amount": "10"}, "interval_seconds": 1}
    running = StrategyFactory(**dca)  # the beat's start-up reconcile gives it its job
    stopped = StrategyFactory(**dca, is_active=False)
    # One message per strategy (the batched way is tests/scheduling/test_beat_series.py): each
    # firing's own result is what this test waits for. The start-up reconcile would remove the
    # stopped one's row: added after.
    beat = start_beat(STRATEGY_BATCHING="0")
    try:
        old_row(stopped)
        wait_for(
            lambda: StrategyRun.objects.filter(strategy=running).count() >= 3,
            timeout=90,
            what="three runs of the running strategy",
        )
        wait_for(
            lambda: Firing.objects.filter(job_name=stopped.job_id, status="published").count() >= 3,
            timeout=60,
            what="three firings of the stopped strategy's row",
        )
    finally:
        beat.stop()
    fired = Firing.objects.filter(job_name=stopped.job_id, status="published")
    # Beat-fired strategy messages store no result (their runs are the result): the worker's
    # log says it ran them.
    wait_for(
        lambda: (
            sum(
                f"[{task_id}] succeeded" in recording_worker.log()
                for task_id in fired.values_list("celery_task_id", flat=True)
            )
            >= 3
        ),
        timeout=180,
        what="the worker to finish three firings of the stopped strategy",
    )

    run = StrategyRun.objects.filter(strategy=running).earliest("scheduled_tick")
    firing = Firing.objects.get(job_name=running.job_id, scheduled_tick=run.scheduled_tick)
    fired_ids = fired.values_list("celery_task_id", flat=True)
    assert not any(f"[{task_id}] raised" in recording_worker.log() for task_id in fired_ids)
    assert StrategyRun.objects.filter(strategy=stopped).count() == 0
    assert Order.objects.filter(strategy=stopped).count() == 0
    assert Order.objects.filter(strategy=running).count() >= 1
    assert firing.celery_task_id == f"{running.job_id}@{run.scheduled_tick:%Y-%m-%dT%H:%M:%S}Z"
    assert firing.kwargs == {"scheduled_tick": run.scheduled_tick.isoformat()}
