"""Redis or PostgreSQL down for a while under a real beat and worker: no tick is lost without a
trace, the API degrades instead of failing, health says what is down, and every process
recovers by itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from project.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from strategies.models import Strategy, StrategyRun
from tasks.health.ticks import ticks_lost
from tasks.models import Firing, JobSchedule
from tests.api.helpers import client_for
from tests.factories import StrategyFactory, UserFactory
from tests.faults.helpers import (
    EVERY,
    FAULTS,
    database_back,
    grid,
    holding_strategy,
    runs_after,
    runs_per_tick,
)
from tests.processes import ManagedProcess, start_beat, start_celery_worker, wait_for

pytestmark = FAULTS

OUTAGE = 8.0  # seconds: four ticks or so


def test_redis_down_for_four_ticks_loses_none_each_runs_once_when_it_is_back(
    redis_outage: EmbeddedRedis,
) -> None:
    strategy = holding_strategy()
    down_at, up_at, survived = redis_down_under_a_beat(strategy, redis_outage, OUTAGE)

    runs = runs_per_tick(strategy)
    expected = grid(list(runs))
    during = [tick for tick in expected if down_at < tick < up_at]
    firings = Firing.objects.filter(job_name=strategy.job_id)
    assert survived
    assert len(during) >= OUTAGE // EVERY - 1
    assert sorted(runs) == expected  # no tick lost
    assert all(len(statuses) == 1 for statuses in runs.values())
    # The backlog arrives at once: with several worker processes a tick may find the one
    # before it still running and be skipped for that, never failed or overlapped.
    assert not StrategyRun.objects.filter(strategy=strategy, status="failed").exists()
    assert not firings.filter(status="pending").exists()
    # Published once Redis was back (start() returns as it listens), not marked sent before.
    back = up_at - timedelta(seconds=0.5)
    late = [firing.published_at >= back for firing in firings if firing.scheduled_tick in during]
    assert late
    assert all(late)


GRACE = 3  # seconds: the misfire grace of the strategy's job in the past-grace outage


def test_redis_down_past_the_grace_records_the_ticks_missed_with_the_reason_none_sent_twice(
    redis_outage: EmbeddedRedis,
) -> None:
    strategy = holding_strategy()

    def short_grace() -> None:
        # The beat's start-up reconcile made the job; the grace applies from its next claim.
        JobSchedule.objects.filter(periodic_task__name=strategy.job_id).update(
            misfire_grace_seconds=GRACE
        )

    down_at, up_at, survived = redis_down_under_a_beat(
        strategy, redis_outage, OUTAGE + 2 * GRACE, before=short_grace
    )

    runs = runs_per_tick(strategy)
    firings = {
        firing.scheduled_tick: firing for firing in Firing.objects.filter(job_name=strategy.job_id)
    }
    missed = {tick: firing for tick, firing in firings.items() if firing.status == "skipped"}
    late = [
        tick
        for tick in grid(list(firings))
        if down_at < tick < up_at - timedelta(seconds=GRACE + 1)
    ]
    schedule = JobSchedule.objects.get(periodic_task__name=strategy.job_id)
    assert survived
    assert len(late) >= OUTAGE // EVERY
    assert set(late) <= set(missed)  # past the grace: missed, not sent late
    assert all(firing.reason.startswith("broker unavailable (") for firing in missed.values())
    assert not set(missed) & set(runs)  # a missed tick never ran
    assert all(len(statuses) == 1 for statuses in runs.values())  # nothing ran twice
    assert set(runs) | set(missed) >= set(grid(list(firings)))  # every tick ran or is missed
    assert schedule.missed_ticks == sum(firing.missed_ticks for firing in firings.values())
    assert not Firing.objects.filter(job_name=strategy.job_id, status="pending").exists()


def redis_down_under_a_beat(
    strategy: Strategy,
    redis_outage: EmbeddedRedis,
    seconds: float,
    before: Callable[[], None] = lambda: None,
) -> tuple[datetime, datetime, bool]:
    """Halt Redis for `seconds` between two ticks of a real beat and worker, once the strategy
    has run (and `before` has run); returns when it went down, came back, and whether both
    processes lived through it.

    The worker is its own: kombu 5 can crash a worker whose ack races the lost connection (see
    the README's Under faults), and the session's worker serves other tests.
    """
    worker = start_celery_worker(concurrency=1)
    beat = start_beat()
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        before()
        between_ticks()
        down_at = timezone.now()
        redis_outage.halt()
        time.sleep(seconds)  # the outage's length is the point, not a wait for a state
        redis_outage.start()
        up_at = timezone.now()
        runs_after(strategy, up_at)
        survived = beat.alive() and worker.alive()
    finally:
        beat.stop()
        worker.stop()
    return down_at, up_at, survived


def between_ticks() -> None:
    """Sleep to the middle of two ticks: the last run's ack is done, the next not yet due."""
    now = time.time()
    time.sleep((EVERY / 2 - now % EVERY) % EVERY)


def test_with_redis_down_an_api_write_passes_unthrottled_and_answers_json(
    redis_outage: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    user = UserFactory()
    strategy = StrategyFactory(owner=user)
    api = client_for(user)

    redis_outage.halt()
    with caplog.at_level(logging.WARNING, logger="project.kernel.api"):
        response = api.patch(f"/api/strategies/{strategy.pk}/", {"name": "renamed"}, format="json")
    redis_outage.start()

    strategy.refresh_from_db()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert strategy.name == "renamed"
    assert "write throttle skipped: its Redis is unreachable" in caplog.text


def test_run_now_with_redis_down_answers_a_json_503_with_the_reason_and_leaves_no_run(
    redis_outage: EmbeddedRedis,
) -> None:
    user = UserFactory()
    strategy = StrategyFactory(owner=user)
    api = client_for(user)

    redis_outage.halt()
    response = api.post(f"/api/strategies/{strategy.pk}/run-now/")
    redis_outage.start()

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith(
        f"job {strategy.job_id} not sent: broker unavailable"
    )
    assert not StrategyRun.objects.filter(strategy=strategy).exists()


def test_postgres_down_health_says_down_processes_recover_and_lost_ticks_leave_a_trace(
    celery_worker: ManagedProcess, postgres_outage: EmbeddedPostgres, client: Client
) -> None:
    strategy = holding_strategy()
    beat = start_beat()
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        down_at = timezone.now()
        postgres_outage.halt()
        during = client.get("/health/")
        time.sleep(OUTAGE)  # the outage's length is the point, not a wait for a state
        postgres_outage.resume()
        database_back()
        up_at = timezone.now()
        after = client.get("/health/")
        runs_after(strategy, up_at)  # beat and worker go on by themselves
        survived = beat.alive() and celery_worker.alive()
    finally:
        beat.stop()
    # The last ticks the beat published before it stopped run after it.
    wait_for(
        lambda: (
            not Firing.objects.filter(
                job_name=strategy.job_id, status="published", task_ended_at=None
            ).exists()
        ),
        timeout=60,
        what="every published tick to end",
    )

    runs = runs_per_tick(strategy)
    lost = {item["scheduled_tick"] for item in ticks_lost(since=down_at, before=timezone.now())}
    fired = Firing.objects.filter(job_name=strategy.job_id)
    missed = sum(fired.values_list("missed_ticks", flat=True))
    expected = grid(list(runs) + list(fired.values_list("scheduled_tick", flat=True)))
    traced = {tick for tick in expected if tick.isoformat() in lost}
    assert (during.status_code, during.json()["status"]) == (503, "down")
    assert during.json()["checks"]["database"]["ok"] is False
    assert after.json()["checks"]["database"]["ok"] is True
    assert survived
    # Every tick ran once, or was fired and left its trace, or is counted missed.
    assert all(len(statuses) == 1 for statuses in runs.values())
    assert len(set(runs) | traced) + missed >= len(expected)
