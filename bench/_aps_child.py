"""One APScheduler side in its own process, for bench/apscheduler_scale.py.

    python bench/_aps_child.py ours|stock TABLE QUIET_SECONDS

Starts the scheduler on the filled job store and prints one JSON line: start-up (until it
fires jobs), resident memory, an idle wakeup (one pass over the store, nothing due) and the
cost of adding a job to the running scheduler (jobs added, then removed).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from bench._beat_child import memory

WAKEUPS = 10
ADDS = 100


def main() -> None:
    import django

    django.setup()
    kind, table, quiet = sys.argv[1], sys.argv[2], int(sys.argv[3])
    began = time.perf_counter()
    aps, add, stop = (_ours if kind == "ours" else _stock)(table, quiet)
    figures: dict[str, Any] = {"startup_s": time.perf_counter() - began, **memory()}
    wakeups = []
    for _ in range(WAKEUPS):
        began = time.perf_counter()
        wait = aps._process_jobs()  # what a wakeup runs on the scheduler's thread
        wakeups.append(time.perf_counter() - began)
        if wait is None or wait < 3600:
            raise SystemExit(f"{kind}: a job is due within {wait} s")
    adds = []
    for n in range(ADDS):
        began = time.perf_counter()
        remove = add(f"bench_add_{n}", n)
        adds.append(time.perf_counter() - began)
        remove()
    stop()
    peak = memory()["peak_rss_mb"]
    figures.update(
        wakeup_ms=statistics.median(wakeups) * 1000,
        add_job_ms=statistics.median(adds) * 1000,
        peak_rss_mb=peak,
    )
    print(json.dumps(figures), flush=True)


def _ours(table: str, quiet: int) -> tuple[Any, Callable[[str, int], Callable[[], None]], Any]:
    """Our backend, started; returns once it leads (start-up hooks run) and fires jobs."""
    from apscheduler.schedulers.base import STATE_RUNNING

    from project.kernel.scheduling import IntervalTrigger
    from strategies.services import EXECUTE_TASK
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler

    ours = APSchedulerScheduler()
    ours.start()
    deadline = time.monotonic() + 3600
    while not (ours.is_leader and ours._aps is not None and ours._aps.state == STATE_RUNNING):
        if time.monotonic() > deadline:
            raise SystemExit("ours: not leading within an hour")
        time.sleep(0.001)

    def add(job_id: str, n: int) -> Callable[[], None]:
        ours.add_job(job_id, EXECUTE_TASK, IntervalTrigger(quiet), args=[n])
        return lambda: ours.remove_job(job_id)

    return ours._aps, add, ours.shutdown


def _stock(table: str, quiet: int) -> tuple[Any, Callable[[str, int], Callable[[], None]], Any]:
    """A stock BackgroundScheduler with a SQLAlchemyJobStore on the same database, started."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger as APSIntervalTrigger

    from strategies.services import EXECUTE_TASK
    from tasks.scheduling.apscheduler_backend import run_task
    from tasks.scheduling.apscheduler_store import sqlalchemy_url

    store = SQLAlchemyJobStore(url=sqlalchemy_url(), tablename=table)
    aps = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    aps.start()

    def add(job_id: str, n: int) -> Callable[[], None]:
        trigger = APSIntervalTrigger(seconds=quiet, timezone=UTC)
        aps.add_job(run_task, trigger=trigger, args=[EXECUTE_TASK, [n], {}], id=job_id)
        return lambda: aps.remove_job(job_id)

    return aps, add, aps.shutdown


if __name__ == "__main__":
    main()
