"""Scheduler backends against the stock tools at 10,000 interval jobs, side by side in one run.

    python bench/scheduler.py [--jobs 10000] [--repeat 5]

(1. The beat has its own benchmark since our beat stopped loading a schedule: bench/beat.py.)
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._scheduler_adding import adding  # noqa: E402
from bench._scheduler_common import (  # noqa: E402
    STOCK_APS_TABLE,
    load,
    ms,
    rotated,
    stock_aps,
)
from bench._stack import django_on_ephemeral_stack  # noqa: E402

IDLE_SAMPLES = 10  # idle ticks / wakeups timed per repetition
QUIET = timedelta(hours=6)  # the jobs' next tick is at least this far away


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
    print(f"{jobs:,} interval jobs every {intervals[0] // 86400} days; load {load()}", flush=True)

    figures.update(adding(strategies, intervals[0]))
    figures.update(_apscheduler(repeat))

    _check_nothing_published()
    figures["load_average_before"] = [round(x, 2) for x in load_before]
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["minutes"] = round((time.monotonic() - started) / 60, 1)
    print(f"load average before {load(load_before)}, after {load()}", flush=True)
    return figures


# --- Fixtures ---------------------------------------------------------------------------------


def _quiet_intervals(now: datetime) -> list[int]:
    """Two daily multiples whose next tick on the epoch grid is at least QUIET away."""
    from project.kernel.scheduling import IntervalTrigger

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


def _reconcile_rows(figures: dict[str, Any], prefix: str, reconcile: list[float]) -> None:
    """Ours reconciles strategy jobs at start-up (stock has nothing like it): show its share."""
    spent = statistics.median(reconcile)
    rest = figures[f"{prefix}_ours_startup_ms"] / 1000 - spent
    stock = figures[f"{prefix}_stock_startup_ms"] / 1000
    figures[f"{prefix}_ours_reconcile_ms"] = round(spent * 1000, 1)
    figures[f"{prefix}_ours_startup_less_reconcile_ms"] = round(rest * 1000, 1)
    print(f"   {'  of which reconcile (measured alone)':<44}{ms(spent):>10}")
    print(f"   {'  start-up less reconcile':<44}{ms(rest):>10}{ms(stock):>10}"
          f"{rest / stock:>11.2f}x", flush=True)  # fmt: skip


# --- 3. APScheduler ---------------------------------------------------------------------------


def _apscheduler(repeat: int) -> dict[str, Any]:
    """Leader start-up until it fires jobs, and one idle pass over the store (a wakeup)."""
    samples: dict[str, dict[str, list[float]]] = {
        name: {"startup": [], "wakeup": []} for name in ("ours", "stock")
    }
    for number in range(repeat):
        for name in rotated(["ours", "stock"], number):
            _lead_and_wake(name, samples[name])
    reconcile = [_reconcile_once() for _ in range(repeat)]
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
        print(f"   {label:<44}{ms(ours_s):>10}{ms(stock_s):>10}{ours_s / stock_s:>11.2f}x")
    _reconcile_rows(figures, "aps", reconcile)
    return figures


def _lead_and_wake(name: str, samples: dict[str, list[float]]) -> None:
    """One side's leader start-up, then IDLE_SAMPLES wakeups timed on this thread."""
    _settle()
    began = time.perf_counter()
    aps, stop = _leader() if name == "ours" else _stock_leader()
    samples["startup"].append(time.perf_counter() - began)
    with _stopping(stop):
        if len(aps.get_jobs()) < 1:
            raise SystemExit(f"{name}: no jobs in the store")
        for _ in range(IDLE_SAMPLES):
            # What a wakeup runs on the scheduler's thread, timed on this one.
            began = time.perf_counter()
            wait = aps._process_jobs()
            samples["wakeup"].append(time.perf_counter() - began)
            if wait is None or wait < QUIET.total_seconds() / 2:
                raise SystemExit(f"{name}: a job is due within {wait} s")


def _reconcile_once() -> float:
    """Seconds the strategy reconcile takes alone on a standby's open store (a no-op)."""
    from strategies.reconcile import strategy_jobs_reconcile
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler

    standby = APSchedulerScheduler()
    with _stopping(standby.shutdown):
        standby.get_job("warm-up")  # opens the store, which the leader has done already
        _settle()
        began = time.perf_counter()
        sync = strategy_jobs_reconcile(scheduler=standby, full=True)
        spent = time.perf_counter() - began
    if sync.created or sync.updated or sync.removed:
        raise SystemExit(f"reconcile was not a no-op: {sync}")
    return spent


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
    aps = stock_aps(STOCK_APS_TABLE)
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


if __name__ == "__main__":
    main()
