"""Exactly once when the broker forgets, when the database crashes at a tick, and when a backlog
arrives at once: under a real beat and worker, every tick runs once, in order.

Each of these failed before the outbox became the truth (issue 22): ticks Redis forgot never
ran, ticks whose database was down were acknowledged and forgotten, and backlog ticks taken by
two pool processes at once were skipped as "still in progress".
"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta
from itertools import pairwise

from django.utils import timezone

from project.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from strategies.models import Strategy, StrategyRun
from tasks.edge import DATABASE_RETRY_MAX_COUNTDOWN
from tasks.models import Firing
from tests.faults.helpers import (
    EVERY,
    FAULTS,
    database_back,
    grid,
    holding_strategy,
    postgres_crash,
    redis_restart_empty,
    runs_after,
    runs_described,
    runs_per_tick,
)
from tests.processes import start_beat, start_celery_worker, wait_for, wait_for_log

pytestmark = FAULTS

DEADLINE = 3  # seconds: BEAT_REDELIVER_AFTER_SECONDS of the beats here
STOPPED = 8.0  # seconds the worker is away: four ticks queued
PUBLISH_LAG = timedelta(seconds=1.5)  # how late a busy beat may publish a tick


def every_tick_ran_once(strategy: Strategy, until: datetime) -> None:
    """Wait until each tick of the strategy's grid up to `until` has its run, ended."""

    def complete() -> bool:
        runs = runs_per_tick(strategy)
        ticks = [tick for tick in runs if tick <= until]
        ended = all("running" not in runs[tick] for tick in ticks)
        return ended and bool(ticks) and max(runs) >= until and sorted(ticks) == grid(ticks)

    wait_for(complete, timeout=120, what=f"a run for every tick up to {until:%H:%M:%S}")


def test_redis_restarted_empty_with_ticks_queued_every_tick_runs_once_within_the_deadline(
    redis_outage: EmbeddedRedis,
) -> None:
    strategy = holding_strategy()
    worker = start_celery_worker(concurrency=1)
    beat = start_beat(BEAT_REDELIVER_AFTER_SECONDS=str(DEADLINE))
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        worker.stop()
        stopped_at = timezone.now()
        time.sleep(STOPPED)
        flushed_at = timezone.now()
        redis_restart_empty(redis_outage)  # the queued ticks are gone
        worker = start_celery_worker(concurrency=1)
        back_at = timezone.now()
        until = back_at + timedelta(seconds=EVERY)
        every_tick_ran_once(strategy, until)
        survived = beat.alive() and worker.alive()
    finally:
        beat.stop()
        worker.stop()

    runs = {tick: statuses for tick, statuses in runs_per_tick(strategy).items() if tick <= until}
    # Published to the broker before it forgot them: a tick is published at its time, or a
    # moment after on a busy machine, so the tick just before the flush may have missed it.
    queued = [tick for tick in grid(list(runs)) if stopped_at < tick < flushed_at - PUBLISH_LAG]
    firings = Firing.objects.filter(job_name=strategy.job_id, scheduled_tick__in=queued)
    started = StrategyRun.objects.filter(strategy=strategy, scheduled_tick__in=queued)
    assert survived
    assert len(queued) >= STOPPED // EVERY - 2
    assert firings.count() == len(queued)
    assert all(statuses == ["succeeded"] for statuses in runs.values()), runs_described(strategy)
    # The broker forgot them: published again (a tick whose publish failed while Redis was
    # down stayed pending and went out once, after it).
    assert any(firing.republished >= 1 for firing in firings)
    assert all(firing.task_started_at and firing.task_ended_at for firing in firings)
    # Within the deadline after the worker is back (twice it for a firing published again
    # before; the beat looks once a second; a tick waits for the one before it).
    latest = max(started.values_list("started_at", flat=True))
    assert latest - back_at < timedelta(seconds=2 * DEADLINE + 2 * EVERY + 2)


def test_postgres_crashed_at_a_tick_the_tick_runs_once_when_it_is_back(
    postgres_outage: EmbeddedPostgres,
) -> None:
    strategy = holding_strategy()
    # A grace the outage cannot outlast, however slow the machine (crash recovery took over a
    # minute at load 9): the held tick must run, not be recorded missed.
    grace = {"SCHEDULER_MISFIRE_GRACE_SECONDS": "600"}
    worker = start_celery_worker(concurrency=1, **grace)
    # No redelivery within the test: only the worker's own retry can bring the tick back.
    beat = start_beat(BEAT_REDELIVER_AFTER_SECONDS="600", **grace)
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        worker.stop()
        time.sleep(EVERY + 0.5)  # a tick published, waiting in Redis
        crashed_at = timezone.now()
        postgres_crash(postgres_outage)
        worker = start_celery_worker(concurrency=1, **grace)  # takes the tick, database down
        wait_for_log(worker, "retry: Retry in", timeout=90)  # taken, failed, retried
        postgres_outage.resume()
        database_back()
        back_at = timezone.now()
        runs_after(strategy, back_at)
        # The held tick's retry comes after its backoff (up to 30 s once the database was away
        # long).
        wait_for(
            lambda: all(has_run(strategy, firing) for firing in held_at(strategy, crashed_at)),
            timeout=2 * DATABASE_RETRY_MAX_COUNTDOWN + 30,
            what="the held tick's own retry to run it",
        )
        survived = beat.alive() and worker.alive()
    finally:
        beat.stop()
        worker.stop()

    runs = runs_per_tick(strategy)
    held = held_at(strategy, crashed_at)
    assert survived
    assert held
    assert all(len(statuses) == 1 for statuses in runs.values()), runs_described(strategy)
    for firing in held:
        assert runs.get(firing.scheduled_tick) == ["succeeded"], runs_described(strategy)
        assert firing.republished == 0  # the worker's retry ran it, not a redelivery


def held_at(strategy: Strategy, crashed_at: datetime) -> list[Firing]:
    """The firings published just before the crash, waiting in Redis for a worker."""
    return list(
        Firing.objects.filter(
            job_name=strategy.job_id,
            published_at__lt=crashed_at,
            scheduled_tick__gt=crashed_at - timedelta(seconds=EVERY + 1),
        )
    )


def has_run(strategy: Strategy, firing: Firing) -> bool:
    return StrategyRun.objects.filter(
        strategy=strategy, scheduled_tick=firing.scheduled_tick
    ).exists()


def test_a_backlog_after_a_beat_restart_runs_in_order_one_at_a_time_none_skipped() -> None:
    strategy = holding_strategy("test_slow", seconds="0.6")
    worker = start_celery_worker(concurrency=2)
    beat = start_beat()
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        beat.kill(signal.SIGKILL)
        killed_at = timezone.now()
        time.sleep(10)  # five ticks, well within the grace: all fired at once on the restart
        beat = start_beat()
        back_at = timezone.now()
        until = back_at + timedelta(seconds=2 * EVERY)
        every_tick_ran_once(strategy, until)
    finally:
        beat.stop()
        worker.stop()

    runs = list(
        StrategyRun.objects.filter(strategy=strategy, scheduled_tick__lte=until).order_by(
            "scheduled_tick"
        )
    )
    backlog = [run for run in runs if killed_at < run.scheduled_tick < back_at]
    assert len(backlog) >= 4
    assert {run.status for run in runs} == {"succeeded"}, runs_described(strategy)
    # One at a time, in tick order: each run starts after the one before it ended.
    for before, after in pairwise(runs):
        assert after.started_at >= before.finished_at, runs_described(strategy)
