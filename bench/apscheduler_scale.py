"""Our APScheduler backend against stock APScheduler 3 at 10,000 and 100,000 jobs, one run.

    python bench/apscheduler_scale.py [--sizes 10000,100000] [--budget 900]

Every job is the job of an active paper strategy, on a quiet grid (next tick hours away).
Our store is filled by a full `jobs_sync` (timed), stock's by copying the pickled state of one
job added through it, as `add_job` would write them; then each side starts in a process
of its own (bench/_aps_child.py): start-up until it fires jobs (ours: the lease taken and
the start-up `jobs_sync` done, which reads the strategies saved since the last one),
resident memory, an idle wakeup (one pass over the store), and `add_job` on the running
scheduler (median of 100). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._beat_jobs import Fleet, quiet_intervals  # noqa: E402
from bench._stack import django_on_ephemeral_stack  # noqa: E402

STOCK_TABLE = "bench_stock_apscheduler_jobs"
OURS_TABLE = "apscheduler_jobs"  # our backend's store keeps APScheduler's default table
BATCH = 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="jobs, comma-separated")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds a side may take")
    args = parser.parse_args()
    with django_on_ephemeral_stack(SCHEDULER_BACKEND="apscheduler"):
        figures = _measure([int(size) for size in args.sizes.split(",")], args.budget)
    print(json.dumps(figures))


def _measure(sizes: list[int], budget: float) -> dict[str, Any]:
    load_before, started = os.getloadavg(), time.monotonic()
    quiet = quiet_intervals(datetime.now(UTC), 2, 60)[0]
    fleet = Fleet(quiet=[quiet, quiet], check=False)
    figures: dict[str, Any] = {"benchmark": "apscheduler_scale", "sizes": sizes}
    for size in sizes:
        fleet.grow(size, rows=False)
        synced = _fill(fleet, quiet)
        figures[f"aps_ours_{size}_full_jobs_sync_s"] = round(synced, 2)
        print(f"== {size:,} jobs (ours: a full jobs_sync made them in {synced:.1f} s); "
              f"load {_load()}", flush=True)  # fmt: skip
        for side in ("ours", "stock"):
            result = _side(side, quiet, budget)
            figures.update({f"aps_{side}_{size}_{k}": v for k, v in result.items()})
        _table(figures, size)
    figures["load_average_before"] = [round(x, 2) for x in load_before]
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["minutes"] = round((time.monotonic() - started) / 60, 1)
    return figures


def _fill(fleet: Any, quiet: int) -> float:
    """Both stores hold one job per strategy. Ours through `jobs_sync` in full (its bulk path,
    timed: the first sync a leader ever makes); stock's as copies of one job added through it,
    as `add_job` would write them (adding 100,000 one by one takes over eight minutes)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger as APSIntervalTrigger

    from strategies.reconcile import strategy_jobs_reconcile
    from strategies.services import EXECUTE_TASK
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler, run_task
    from tasks.scheduling.apscheduler_store import sqlalchemy_url

    ours = APSchedulerScheduler()
    first = fleet.strategies[0]
    store = SQLAlchemyJobStore(url=sqlalchemy_url(), tablename=STOCK_TABLE)
    stock = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    stock.start(paused=True)
    if stock.get_job(first.job_id) is None:
        trigger = APSIntervalTrigger(seconds=quiet, timezone=UTC)
        stock.add_job(
            run_task, trigger=trigger, args=[EXECUTE_TASK, [first.pk], {}], id=first.job_id
        )
    try:
        began = time.perf_counter()
        synced = strategy_jobs_reconcile(scheduler=ours, full=True)
        spent = time.perf_counter() - began
        if synced.desired != len(fleet.strategies) or synced.failed:
            raise SystemExit(f"ours: jobs_sync did not make every job: {synced}")
        _copy(stock.get_job(first.job_id), stock._jobstores["default"], fleet.strategies)
    finally:
        ours.shutdown()
        stock.shutdown()
    return spent


def _copy(template: Any, store: Any, strategies: list[Any]) -> None:
    from apscheduler.util import datetime_to_utc_timestamp
    from sqlalchemy import func, select

    with store.engine.begin() as conn:
        have = set(conn.execute(select(store.jobs_t.c.id)).scalars())
    state = template.__getstate__()
    rows = []
    for strategy in strategies:
        if strategy.job_id in have:
            continue
        copy = {**state, "id": strategy.job_id, "args": _args(state["args"], strategy.pk)}
        rows.append(
            {
                "id": strategy.job_id,
                "next_run_time": datetime_to_utc_timestamp(copy["next_run_time"]),
                "job_state": pickle.dumps(copy, store.pickle_protocol),
            }
        )
    for start in range(0, len(rows), BATCH):
        with store.engine.begin() as conn:
            conn.execute(store.jobs_t.insert(), rows[start : start + BATCH])
    with store.engine.begin() as conn:
        count = conn.execute(select(func.count()).select_from(store.jobs_t)).scalar()
    if count != len(strategies):
        raise SystemExit(f"{store.jobs_t.name}: {count} jobs for {len(strategies)} strategies")


def _args(template_args: tuple[Any, ...], pk: int) -> tuple[Any, ...]:
    """run_task's arguments (task name, task args, task kwargs) for strategy `pk`."""
    task, _, kwargs = template_args
    return (task, [pk], kwargs)


def _side(side: str, quiet: int, budget: float) -> dict[str, Any]:
    table = OURS_TABLE if side == "ours" else STOCK_TABLE
    command = [sys.executable, str(BASE_DIR / "bench" / "_aps_child.py"), side, table, str(quiet)]
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=budget, check=False, cwd=BASE_DIR
        )
    except subprocess.TimeoutExpired:
        return {"reached": f"not done within {budget:.0f} s"}
    if done.returncode != 0:
        raise SystemExit(f"{side}: {done.stderr.decode(errors='replace')[-2000:]}")
    figures = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return {key: round(value, 3) for key, value in figures.items()}


def _table(figures: dict[str, Any], size: int) -> None:
    print(f"   {'':<34}{'ours':>12}{'stock':>12}")
    for label, key in (
        ("start-up (until it fires jobs)", "startup_s"),
        ("idle wakeup, ms", "wakeup_ms"),
        ("add_job while running, ms", "add_job_ms"),
        ("RSS after start-up, MB", "rss_mb"),
        ("RSS peak, MB", "peak_rss_mb"),
    ):
        cells = [figures.get(f"aps_{side}_{size}_{key}") for side in ("ours", "stock")]
        print(f"   {label:<34}" + "".join(f"{_cell(cell):>12}" for cell in cells))
    for side in ("ours", "stock"):
        if f"aps_{side}_{size}_reached" in figures:
            print(f"   {side}: {figures[f'aps_{side}_{size}_reached']}")
    sys.stdout.flush()


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
