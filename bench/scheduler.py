"""Scheduler backends against the stock tools at 10,000 interval jobs, side by side in one run.

    python bench/scheduler.py [--jobs 10000] [--repeat 5]

1. Beat: our `TickScheduler` and stock django-celery-beat `DatabaseScheduler` on the same rows,
   driven in-process (constructed with the Celery app, `tick()` called): start-up, idle tick,
   the tick after one job was edited.
2. Adding jobs one by one: our interface (`add_job`, both backends) against
   `PeriodicTask.objects.create` and stock APScheduler 3 `SQLAlchemyJobStore` `add_job`.
3. APScheduler backend: leader start-up and idle wakeup against a stock `BackgroundScheduler`.

Every job belongs to an active strategy (as in production) and sits on a daily-multiple grid
whose next tick is hours away, so nothing falls due: no tick publishes, and the script checks
that the (real) broker queue stayed empty. The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._stack import django_on_ephemeral_stack  # noqa: E402

BLOCKS = 10  # jobs are added in this many blocks, the paths taking turns block by block
IDLE_SAMPLES = 10  # idle ticks / wakeups timed per repetition
QUIET = timedelta(hours=6)  # the jobs' next tick is at least this far away
STOCK_APS_TABLE = "bench_stock_apscheduler_jobs"
STOCK_APS_PAUSED_TABLE = "bench_stock_apscheduler_paused_jobs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="interval jobs (strategies)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of 1. and 3.")
    args = parser.parse_args()

    with django_on_ephemeral_stack(SCHEDULER_BACKEND="celery"):
        # Each leader shutdown logs that it gave the lease up: expected here, not news.
        logging.getLogger("tasks.scheduling.leader").setLevel(logging.ERROR)
        figures = _measure(args.jobs, args.repeat)
    print(json.dumps(figures))


def _measure(jobs: int, repeat: int) -> dict[str, Any]:
    load_before = os.getloadavg()
    started = time.monotonic()
    intervals = _quiet_intervals(datetime.now(UTC))
    strategies = _strategies(jobs, intervals[0])
    _settle()
    figures: dict[str, Any] = {"benchmark": "scheduler", "jobs": jobs, "repeat": repeat}
    print(f"{jobs:,} interval jobs every {intervals[0] // 86400} days; load {_load()}", flush=True)

    figures.update(_adding(strategies, intervals[0]))
    figures.update(_beat(strategies, intervals, repeat))
    figures.update(_apscheduler(repeat))

    _check_nothing_published()
    figures["load_average_before"] = [round(x, 2) for x in load_before]
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["minutes"] = round((time.monotonic() - started) / 60, 1)
    print(f"load average before {_load(load_before)}, after {_load()}", flush=True)
    return figures


# --- Fixtures ---------------------------------------------------------------------------------


def _quiet_intervals(now: datetime) -> list[int]:
    """Two daily multiples whose next tick on the epoch grid is at least QUIET away."""
    from project.scheduling import IntervalTrigger

    found = []
    for days in range(2, 60):
        trigger = IntervalTrigger(days * 86400)
        if trigger.next_tick(now) - now >= QUIET:
            found.append(trigger.seconds)
        if len(found) == 2:
            return found
    raise SystemExit("no quiet interval found")  # pragma: no cover - 2..59 days always has two


def _strategies(count: int, interval: int) -> list[Any]:
    """Active paper strategies on one market; their jobs are added by the paths under test."""
    from django.contrib.auth import get_user_model

    from marketdata.models import Exchange, Market
    from strategies.models import Strategy

    user = get_user_model().objects.create(username="bench")
    exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp")
    market = Market.objects.create(
        exchange=exchange, symbol="BTC/USD", exchange_symbol="btcusd", base="BTC", quote="USD"
    )
    return Strategy.objects.bulk_create(
        Strategy(
            owner=user,
            name=f"dca {n}",
            market=market,
            kind="dca",
            parameters={"quote_amount": "10"},
            interval_seconds=interval,
            is_active=True,
        )
        for n in range(count)
    )


# --- 2. Adding jobs ---------------------------------------------------------------------------


def _adding(strategies: list[Any], interval: int) -> dict[str, Any]:
    """Each path adds one job per strategy, one call (and one commit) per job."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger as APSIntervalTrigger
    from django.db import transaction
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    from strategies.services import EXECUTE_TASK
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler, run_task
    from tasks.scheduling.celery_backend import CeleryBeatScheduler

    ours_celery, ours_aps = CeleryBeatScheduler(), APSchedulerScheduler()
    stock_running, stock_paused = _stock_aps(STOCK_APS_TABLE), _stock_aps(STOCK_APS_PAUSED_TABLE)
    stock_running.start()
    stock_paused.start(paused=True)
    every, _ = IntervalSchedule.objects.get_or_create(
        every=interval, period=IntervalSchedule.SECONDS
    )

    def through(scheduler: Any) -> Callable[[Sequence[Any]], None]:
        def add(block: Sequence[Any]) -> None:
            for strategy in block:
                with transaction.atomic():  # one job per transaction, as strategy_start does
                    scheduler.add_job(
                        strategy.job_id, EXECUTE_TASK, strategy.trigger, args=[strategy.pk]
                    )

        return add

    def beat_create(block: Sequence[Any]) -> None:
        for strategy in block:
            with transaction.atomic():
                PeriodicTask.objects.create(
                    name=f"stock_{strategy.pk}",
                    task=EXECUTE_TASK,
                    interval=every,
                    args=json.dumps([strategy.pk]),
                )

    def stock(aps: BackgroundScheduler) -> Callable[[Sequence[Any]], None]:
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

    paths = {
        "ours_celery": through(ours_celery),
        "ours_apscheduler": through(ours_aps),
        "stock_beat_create": beat_create,
        "stock_apscheduler": stock(stock_running),
        "stock_apscheduler_paused": stock(stock_paused),
    }
    blocks = list(_blocks(strategies, BLOCKS))
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for number, block in enumerate(blocks):
            for name in _rotated(list(paths), number):
                began = time.perf_counter()
                paths[name](block)
                seconds[name].append(time.perf_counter() - began)
            print(f"  added block {number + 1}/{len(blocks)}; load {_load()}", flush=True)
    finally:
        ours_aps.shutdown()
        stock_running.shutdown()
        stock_paused.shutdown()

    count = len(strategies)
    if sum(job.id.startswith("strategy_") for job in ours_celery.get_jobs()) != count:
        raise SystemExit("our Celery backend does not list every job it added")
    if PeriodicTask.objects.filter(name__startswith="stock_").count() != count:
        raise SystemExit("not every stock PeriodicTask row was created")
    # Part 1 runs on our rows only: the stock path's copies go (and beat is told).
    PeriodicTask.objects.filter(name__startswith="stock_").delete()
    PeriodicTasks.update_changed()

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


ADD_LABELS = {
    "ours_celery": "ours, Celery backend add_job",
    "ours_apscheduler": "ours, APScheduler backend add_job (not leader)",
    "stock_beat_create": "stock PeriodicTask.objects.create",
    "stock_apscheduler": "stock APScheduler add_job (scheduler running)",
    "stock_apscheduler_paused": "stock APScheduler add_job (scheduler paused)",
}


def _stock_aps(table: str) -> Any:
    """A stock APScheduler 3 BackgroundScheduler with a SQLAlchemyJobStore on our database."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from tasks.scheduling.apscheduler_store import sqlalchemy_url

    store = SQLAlchemyJobStore(url=sqlalchemy_url(), tablename=table)
    return BackgroundScheduler(jobstores={"default": store}, timezone=UTC)


# --- 1. Beat ----------------------------------------------------------------------------------


def _beat(strategies: list[Any], intervals: list[int], repeat: int) -> dict[str, Any]:
    """Construct each scheduler and tick it by hand: start-up, idle ticks, a tick after an edit."""
    from django_celery_beat.schedulers import DatabaseScheduler

    from project.celery import app
    from strategies.services import strategy_schedules_sync, strategy_update
    from tasks.scheduling.beat import TickScheduler
    from tasks.scheduling.celery_backend import CeleryBeatScheduler

    classes = {"ours": TickScheduler, "stock": DatabaseScheduler}
    samples: dict[str, dict[str, list[float]]] = {
        name: {"startup": [], "idle": [], "edit": []} for name in classes
    }
    edited = strategies[len(strategies) // 2]
    for number in range(repeat):
        for name in _rotated(list(classes), number):
            _settle()
            began = time.perf_counter()
            scheduler = classes[name](app=app)
            _not_due(scheduler.tick())
            samples[name]["startup"].append(time.perf_counter() - began)
            if len(scheduler.schedule) < len(strategies):
                raise SystemExit(f"{name}: {len(scheduler.schedule)} entries loaded")
            for _ in range(IDLE_SAMPLES):
                began = time.perf_counter()
                _not_due(scheduler.tick())
                samples[name]["idle"].append(time.perf_counter() - began)
            retimed = intervals[1] if edited.interval_seconds == intervals[0] else intervals[0]
            strategy_update(strategy=edited, data={"interval_seconds": retimed})
            loaded = scheduler._schedule
            began = time.perf_counter()
            _not_due(scheduler.tick())
            samples[name]["edit"].append(time.perf_counter() - began)
            if scheduler._schedule is loaded:
                raise SystemExit(f"{name}: the edit did not reach the schedule")
            scheduler.close()
            # django-celery-beat's exit hook holds the instance forever; beat has just one.
            scheduler._finalize.cancel()
    reconcile = []
    for _ in range(repeat):
        _settle()
        began = time.perf_counter()
        sync = strategy_schedules_sync(scheduler=CeleryBeatScheduler())
        reconcile.append(time.perf_counter() - began)
        if sync.active != len(strategies) or sync.created or sync.updated or sync.removed:
            raise SystemExit(f"reconcile was not a no-op: {sync}")

    figures: dict[str, Any] = {}
    print(f"1. beat, {len(strategies):,} interval jobs, medians of {repeat} (ticks: of "
          f"{repeat * IDLE_SAMPLES}):")  # fmt: skip
    print(f"   {'':<44}{'ours':>10}{'stock':>10}{'ours/stock':>12}")
    rows = (
        ("startup", "start-up (construct + first tick)"),
        ("idle", "idle tick"),
        ("edit", "tick after one job was edited"),
    )
    for phase, label in rows:
        ours, stock = (statistics.median(samples[name][phase]) for name in ("ours", "stock"))
        figures[f"beat_ours_{phase}_ms"] = round(ours * 1000, 1)
        figures[f"beat_stock_{phase}_ms"] = round(stock * 1000, 1)
        figures[f"beat_{phase}_ratio"] = round(ours / stock, 2)
        print(f"   {label:<44}{_ms(ours):>10}{_ms(stock):>10}{ours / stock:>11.2f}x")
    _reconcile_rows(figures, "beat", reconcile)
    return figures


def _reconcile_rows(figures: dict[str, Any], prefix: str, reconcile: list[float]) -> None:
    """Ours reconciles strategy jobs at start-up (stock has nothing like it): show its share."""
    spent = statistics.median(reconcile)
    rest = figures[f"{prefix}_ours_startup_ms"] / 1000 - spent
    stock = figures[f"{prefix}_stock_startup_ms"] / 1000
    figures[f"{prefix}_ours_reconcile_ms"] = round(spent * 1000, 1)
    figures[f"{prefix}_ours_startup_less_reconcile_ms"] = round(rest * 1000, 1)
    print(f"   {'  of which reconcile (measured alone)':<44}{_ms(spent):>10}")
    print(f"   {'  start-up less reconcile':<44}{_ms(rest):>10}{_ms(stock):>10}"
          f"{rest / stock:>11.2f}x", flush=True)  # fmt: skip


def _not_due(delay: float) -> None:
    """A tick returns 0 after sending a task: nothing may be due here."""
    if delay <= 0:
        raise SystemExit("a beat tick sent a task: the jobs were meant to be far from due")


# --- 3. APScheduler ---------------------------------------------------------------------------


def _apscheduler(repeat: int) -> dict[str, Any]:
    """Leader start-up until it fires jobs, and one idle pass over the store (a wakeup)."""
    from strategies.services import strategy_schedules_sync
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler

    samples: dict[str, dict[str, list[float]]] = {
        name: {"startup": [], "wakeup": []} for name in ("ours", "stock")
    }
    for number in range(repeat):
        for name in _rotated(["ours", "stock"], number):
            _settle()
            began = time.perf_counter()
            aps, stop = _leader() if name == "ours" else _stock_leader()
            samples[name]["startup"].append(time.perf_counter() - began)
            with _stopping(stop):
                if len(aps.get_jobs()) < 1:
                    raise SystemExit(f"{name}: no jobs in the store")
                for _ in range(IDLE_SAMPLES):
                    # What a wakeup runs on the scheduler's thread, timed on this one.
                    began = time.perf_counter()
                    wait = aps._process_jobs()
                    samples[name]["wakeup"].append(time.perf_counter() - began)
                    if wait is None or wait < QUIET.total_seconds() / 2:
                        raise SystemExit(f"{name}: a job is due within {wait} s")
    reconcile = []
    for _ in range(repeat):
        standby = APSchedulerScheduler()
        with _stopping(standby.shutdown):
            standby.get_job("warm-up")  # opens the store, which the leader has done already
            _settle()
            began = time.perf_counter()
            sync = strategy_schedules_sync(scheduler=standby)
            reconcile.append(time.perf_counter() - began)
        if sync.created or sync.updated or sync.removed:
            raise SystemExit(f"reconcile was not a no-op: {sync}")

    figures: dict[str, Any] = {}
    print(f"3. APScheduler, medians of {repeat} (wakeups: of {repeat * IDLE_SAMPLES}):")
    print(f"   {'':<44}{'ours':>10}{'stock':>10}{'ours/stock':>12}")
    rows = (
        ("startup", "leader start-up (until it fires jobs)"),
        ("wakeup", "idle wakeup (one pass, nothing due)"),
    )
    for phase, label in rows:
        ours_s, stock_s = (statistics.median(samples[name][phase]) for name in ("ours", "stock"))
        figures[f"aps_ours_{phase}_ms"] = round(ours_s * 1000, 1)
        figures[f"aps_stock_{phase}_ms"] = round(stock_s * 1000, 1)
        figures[f"aps_{phase}_ratio"] = round(ours_s / stock_s, 2)
        print(f"   {label:<44}{_ms(ours_s):>10}{_ms(stock_s):>10}{ours_s / stock_s:>11.2f}x")
    _reconcile_rows(figures, "aps", reconcile)
    return figures


def _leader() -> tuple[Any, Callable[[], None]]:
    """Our backend started; returns once it leads and fires jobs (its APScheduler running)."""
    from apscheduler.schedulers.base import STATE_RUNNING

    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler

    ours = APSchedulerScheduler()
    ours.start()
    _wait(lambda: ours._aps is not None and ours._aps.state == STATE_RUNNING)
    return ours._aps, ours.shutdown


def _stock_leader() -> tuple[Any, Callable[[], None]]:
    """A stock BackgroundScheduler on the stock jobs, started."""
    aps = _stock_aps(STOCK_APS_TABLE)
    aps.start()
    return aps, aps.shutdown


@contextmanager
def _stopping(stop: Callable[[], object]) -> Iterator[None]:
    try:
        yield
    finally:
        stop()


def _wait(condition: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready within {timeout} s")
        time.sleep(0.0005)


# --- Helpers ----------------------------------------------------------------------------------


def _check_nothing_published() -> None:
    """The broker is real: its default queue must be empty, as no job was ever due."""
    import redis
    from django.conf import settings

    queued = redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery")
    if queued:
        raise SystemExit(f"{queued} messages were published: a job fell due during the run")


def _settle() -> None:
    """Collect garbage now and exempt what exists (the fixtures) from later collections."""
    gc.collect()
    gc.freeze()


def _blocks(items: list[Any], count: int) -> Iterator[list[Any]]:
    size = -(-len(items) // count)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rotated(names: list[str], number: int) -> list[str]:
    """The order changes every round, so the machine's load weighs on each side alike."""
    shift = number % len(names)
    return names[shift:] + names[:shift]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _load(values: Sequence[float] | None = None) -> str:
    return " ".join(f"{x:.2f}" for x in (values or os.getloadavg()))


if __name__ == "__main__":
    main()
