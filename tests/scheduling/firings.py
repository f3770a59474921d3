"""Rows of the beat's tables made by hand, with known timing, for the observability tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from strategies.models import Strategy, StrategyRun
from tasks.models import Firing, FiringStatus

TICK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def job(name: str, args: list[int] | None = None) -> PeriodicTask:
    """An enabled interval job (the database trigger gives it its schedule row)."""
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name, task="execute_single_strategy", interval=every, args=json.dumps(args or [])
    )


def strategy_job(strategy: Strategy) -> PeriodicTask:
    return job(strategy.job_id, [strategy.pk])


def firing(
    task: PeriodicTask,
    tick: datetime = TICK,
    *,
    late: float | None = 0.1,
    status: str = FiringStatus.PUBLISHED,
    trigger: str = "schedule",
    missed_ticks: int = 0,
    created_at: datetime | None = None,
) -> Firing:
    """A firing of `task` at `tick`, published `late` seconds after it (None: not published)."""
    return Firing.objects.create(
        job_name=task.name,
        periodic_task_id=task.pk,
        scheduled_tick=tick,
        task=task.task,
        args=json.loads(task.args),
        celery_task_id=f"{task.name}@{tick.isoformat()}",
        trigger=trigger,
        missed_ticks=missed_ticks,
        status=status,
        created_at=created_at or tick,
        published_at=None if late is None else tick + timedelta(seconds=late),
    )


def run_started(strategy: Strategy, tick: datetime, late: float) -> StrategyRun:
    """A finished run of `strategy` for `tick` that started `late` seconds after it."""
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick, status="succeeded")
    StrategyRun.objects.filter(pk=run.pk).update(started_at=tick + timedelta(seconds=late))
    return run
