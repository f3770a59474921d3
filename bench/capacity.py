"""Benchmark: how many paper strategies one machine runs on time, batched per series beside
one message per strategy, end to end with the Procfile's processes, in one run.

Each phase starts the Procfile's worker (`--concurrency=2`) and beat on a throw-away
PostgreSQL and Redis, adds N active paper `dca` strategies (each with the job row our Celery
backend writes) on a grid of `--grid` seconds (60: a 1-minute grid), spread over `--markets`
markets or each on its own market (the worst case for batching), and measures `--ticks` ticks:
per tick, strategies with exactly one run, none or several, and how late runs started and
finished against their tick (p50, p95, p99, max); and the CPU seconds the worker, beat,
PostgreSQL and Redis spent per run. `STRATEGY_BATCHING` switches the path: batched per series
(on) or today's one message per strategy (off). The bench writes each tick's closed candle
just before the tick, as collection would have. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._stack import django_on_ephemeral_stack  # noqa: E402

TARGETS = {"5000": 5.0, "10000": 10.0}  # p99 finish lateness (s) at that many strategies
TARGET_CPU_MS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=60, help="seconds between ticks")
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--batched", default="1000,5000,10000", help="sizes, batched path")
    parser.add_argument("--own-market", default="1000,5000", help="sizes, one market each")
    parser.add_argument("--single", default="1000", help="sizes, one message per strategy")
    args = parser.parse_args()
    with django_on_ephemeral_stack():
        figures = _measure(args)
    print(json.dumps(figures))


def _sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size.strip()]


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench._capacity_fleet import Fleet

    fleet = Fleet()
    plan = [(size, args.markets, True) for size in _sizes(args.batched)]
    plan += [(size, args.markets, False) for size in _sizes(args.single)]
    plan += [(size, size, True) for size in _sizes(args.own_market)]
    figures: dict[str, Any] = {"benchmark": "capacity", "grid_s": args.grid}
    figures["cores"] = os.cpu_count()
    figures["load_start"] = [round(load, 2) for load in os.getloadavg()]
    figures["phases"] = []
    for size, markets, batching in plan:
        phase = _phase(fleet, size=size, markets=markets, batching=batching, args=args)
        figures["phases"].append(phase)
        print(json.dumps(phase), flush=True)
    figures["load_end"] = [round(load, 2) for load in os.getloadavg()]
    return figures


def _phase(
    fleet: Any, *, size: int, markets: int, batching: bool, args: argparse.Namespace
) -> dict[str, Any]:
    """One path at one size: processes up, strategies added just after a tick, `ticks` ticks
    measured, processes and strategies stopped."""
    from bench._capacity_procs import processes_start

    worker, beat = processes_start(batching)
    try:
        measured = _ticks_measured(fleet, worker, beat, size, markets, args)
    finally:
        beat.stop()
        worker.stop()
        fleet.stop()
    path = "batched" if batching else "single"
    return {"path": path, "strategies": size, "markets": markets, **measured}


def _ticks_measured(
    fleet: Any, worker: Any, beat: Any, size: int, markets: int, args: argparse.Namespace
) -> dict[str, Any]:
    import psutil

    from bench._capacity_fleet import candles_close
    from bench._capacity_procs import cpu_seconds, servers
    from bench._capacity_stats import tick_figures

    grid = args.grid
    boundary = _sleep_past_tick(grid)
    ids = fleet.start(size, markets, grid)
    ticks = [boundary + timedelta(seconds=grid * n) for n in range(1, args.ticks + 1)]
    procs = {"worker": psutil.Process(worker.process.pid), "beat": psutil.Process(beat.process.pid)}
    procs |= servers()
    _planned(timeout=grid - 2)
    before, load = cpu_seconds(procs), os.getloadavg()
    for tick in ticks:
        _sleep_until(tick - timedelta(seconds=3))
        candles_close(fleet.markets[:markets], tick)
    # The beat stops once the last tick is published: no tick after the measured ones fires.
    _published(ticks[-1], size, deadline=ticks[-1] + timedelta(seconds=grid))
    beat_spent = cpu_seconds({"beat": procs.pop("beat")})["beat"] - before["beat"]
    beat.stop()
    runs = _drained(ids, ticks, deadline=ticks[-1] + timedelta(seconds=grid * 2 + 60))
    spent = {kind: after - before[kind] for kind, after in cpu_seconds(procs).items()}
    spent["beat"] = beat_spent
    per_run = {kind: round(seconds * 1000 / max(runs, 1), 3) for kind, seconds in spent.items()}
    return {
        "runs": runs,
        "load_during": [round(value, 2) for value in load],
        "ticks": [tick_figures(ids, tick) for tick in ticks],
        "cpu_ms_per_run": per_run,
        "cpu_ms_per_run_total": round(sum(per_run.values()), 3),
    }


def _published(tick: datetime, size: int, deadline: datetime) -> None:
    """Wait until every firing of the tick is published (or the deadline)."""
    from tasks.models import Firing

    published = Firing.objects.filter(scheduled_tick=tick, status="published")
    while published.count() < size and datetime.now(UTC) < deadline:
        time.sleep(0.2)


def _sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def _sleep_past_tick(grid: int) -> datetime:
    """Wait until just after the next tick of the grid; that tick."""
    now = time.time()
    boundary = datetime.fromtimestamp((now // grid + 1) * grid, UTC)
    _sleep_until(boundary + timedelta(seconds=0.3))
    return boundary


def _planned(timeout: float) -> None:
    """Wait until the beat has planned every new job (a one-off cost, not a run's)."""
    from tasks.models import JobSchedule

    deadline = time.monotonic() + timeout
    while JobSchedule.objects.filter(stale=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the beat did not plan the new jobs before their first tick")
        time.sleep(0.2)


def _drained(ids: list[int], ticks: list[datetime], deadline: datetime) -> int:
    """Wait until every run of the measured ticks has finished (or the deadline); how many did."""
    from bench._capacity_stats import finished_runs

    expected = len(ids) * len(ticks)
    while (done := finished_runs(ids, ticks)) < expected and datetime.now(UTC) < deadline:
        time.sleep(2)  # the count is not free: look every 2 s
    return done


if __name__ == "__main__":
    main()
