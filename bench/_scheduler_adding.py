"""Part 2 of bench/scheduler.py: adding jobs one by one, ours against the stock tools.

Each path adds one job per strategy, one call (and one commit) per job: our interface
(`add_job`, both backends), `PeriodicTask.objects.create`, and stock APScheduler 3's
`add_job` (its scheduler running, and paused). The paths take turns block by block.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from bench._scheduler_common import (
    BLOCKS,
    STOCK_APS_PAUSED_TABLE,
    STOCK_APS_TABLE,
    blocks,
    load,
    rotated,
    stock_aps,
)

Adder = Callable[[Sequence[Any]], None]

ADD_LABELS = {
    "ours_celery": "ours, Celery backend add_job",
    "ours_apscheduler": "ours, APScheduler backend add_job (not leader)",
    "stock_beat_create": "stock PeriodicTask.objects.create",
    "stock_apscheduler": "stock APScheduler add_job (scheduler running)",
    "stock_apscheduler_paused": "stock APScheduler add_job (scheduler paused)",
}


def adding(strategies: list[Any], interval: int) -> dict[str, Any]:
    """Seconds each path took to add one job per strategy; checks every job landed."""
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler
    from tasks.scheduling.celery_backend import CeleryBeatScheduler

    ours_celery, ours_aps = CeleryBeatScheduler(), APSchedulerScheduler()
    stock_running, stock_paused = stock_aps(STOCK_APS_TABLE), stock_aps(STOCK_APS_PAUSED_TABLE)
    stock_running.start()
    stock_paused.start(paused=True)
    paths = {
        "ours_celery": _through(ours_celery),
        "ours_apscheduler": _through(ours_aps),
        "stock_beat_create": _beat_create(interval),
        "stock_apscheduler": _stock_add(stock_running, interval),
        "stock_apscheduler_paused": _stock_add(stock_paused, interval),
    }
    try:
        seconds = _timed_in_turns(paths, strategies)
    finally:
        ours_aps.shutdown()
        stock_running.shutdown()
        stock_paused.shutdown()
    _check_and_drop_stock_rows(ours_celery, len(strategies))
    return _report(seconds, len(strategies))


def _through(scheduler: Any) -> Adder:
    from django.db import transaction

    from strategies.services import EXECUTE_TASK

    def add(block: Sequence[Any]) -> None:
        for strategy in block:
            with transaction.atomic():  # one job per transaction, as strategy_start does
                scheduler.add_job(
                    strategy.job_id, EXECUTE_TASK, strategy.trigger, args=[strategy.pk]
                )

    return add


def _beat_create(interval: int) -> Adder:
    from django.db import transaction
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from strategies.services import EXECUTE_TASK

    every, _ = IntervalSchedule.objects.get_or_create(
        every=interval, period=IntervalSchedule.SECONDS
    )

    def add(block: Sequence[Any]) -> None:
        for strategy in block:
            with transaction.atomic():
                PeriodicTask.objects.create(
                    name=f"stock_{strategy.pk}",
                    task=EXECUTE_TASK,
                    interval=every,
                    args=json.dumps([strategy.pk]),
                )

    return add


def _stock_add(aps: Any, interval: int) -> Adder:
    from apscheduler.triggers.interval import IntervalTrigger as APSIntervalTrigger

    from strategies.services import EXECUTE_TASK
    from tasks.scheduling.apscheduler_backend import run_task

    def add(block: Sequence[Any]) -> None:
        for strategy in block:
            aps.add_job(
                run_task,
                trigger=APSIntervalTrigger(seconds=interval, timezone=UTC),
                args=[EXECUTE_TASK, [strategy.pk], {}],
                id=strategy.job_id,
                name=EXECUTE_TASK,
            )

    return add


def _timed_in_turns(paths: dict[str, Adder], strategies: list[Any]) -> dict[str, list[float]]:
    """Each block through every path, in an order that turns each block."""
    parts = list(blocks(strategies, BLOCKS))
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for number, block in enumerate(parts):
        for name in rotated(list(paths), number):
            began = time.perf_counter()
            paths[name](block)
            seconds[name].append(time.perf_counter() - began)
        print(f"  added block {number + 1}/{len(parts)}; load {load()}", flush=True)
    return seconds


def _check_and_drop_stock_rows(ours_celery: Any, count: int) -> None:
    """Every path added every job; then the stock rows go, part 1 runs on ours only."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    if sum(job.id.startswith("strategy_") for job in ours_celery.get_jobs()) != count:
        raise SystemExit("our Celery backend does not list every job it added")
    if PeriodicTask.objects.filter(name__startswith="stock_").count() != count:
        raise SystemExit("not every stock PeriodicTask row was created")
    PeriodicTask.objects.filter(name__startswith="stock_").delete()
    PeriodicTasks.update_changed()


def _report(seconds: dict[str, list[float]], count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    print(f"2. adding {count:,} jobs one by one ({BLOCKS} blocks taking turns):")
    print(f"   {'path':<46}{'total':>9}{'per job':>11}{'10 x median block':>19}")
    for name, spent in seconds.items():
        total = sum(spent)
        figures[f"add_{name}_s"] = round(total, 2)
        figures[f"add_{name}_ms_per_job"] = round(total / count * 1000, 3)
        print(
            f"   {ADD_LABELS[name]:<46}{total:>8.1f}s{total / count * 1000:>9.2f}ms"
            f"{statistics.median(spent) * len(spent):>18.1f}s",
            flush=True,
        )
    return figures
