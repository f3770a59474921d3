"""Strategy jobs under a real beat and worker: the tick reaches the run; a stopped strategy
whose old row still fires places no order."""

from __future__ import annotations

import json

import pytest
from celery.states import READY_STATES
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

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
    beat = start_beat()  # its start-up reconcile would remove the stopped one's row: add after
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
    finished = TaskResult.objects.filter(
        task_id__in=fired.values("celery_task_id"), status__in=READY_STATES
    )
    wait_for(
        lambda: finished.count() >= 3,
        timeout=90,
        what="the worker to finish three firings of the stopped strategy",
    )

    run = StrategyRun.objects.filter(strategy=running).earliest("scheduled_tick")
    firing = Firing.objects.get(job_name=running.job_id, scheduled_tick=run.scheduled_tick)
    assert set(finished.values_list("status", flat=True)) == {"SUCCESS"}
    assert StrategyRun.objects.filter(strategy=stopped).count() == 0
    assert Order.objects.filter(strategy=stopped).count() == 0
    assert Order.objects.filter(strategy=running).count() >= 1
    assert firing.celery_task_id == f"{running.job_id}@{run.scheduled_tick:%Y-%m-%dT%H:%M:%S}Z"
    assert firing.kwargs == {"scheduled_tick": run.scheduled_tick.isoformat()}
