"""Benchmark: a 1,000-strategy tick's start lateness while idle, then while long backtests
saturate the Procfile's niced `backtests` worker, then during a parameter sweep, in one run.

One throw-away PostgreSQL and Redis and one set of processes for the whole run: the Procfile's
strategy worker (`--concurrency=2`) and beat as `bench/capacity.py` starts them, and the
Procfile's `backtests` line run as written (`nice -n 10 celery ... -Q backtests`,
`BACKTEST_CONCURRENCY` from `--backtest-concurrency`). N active paper `dca` strategies on 50
markets fire every `--grid` seconds (capacity's fleet and candles: each tick's closing candle
is written just before it). Three phases of `--ticks` measured ticks each, each after one
unmeasured settling tick: idle; SMA-crossover backtests over `--backtest-days` of a stored
1m history, more queued than the phase can run; an SMA-crossover sweep of `--sweep-sets`
random sets over the same period. Per phase: p50 / p95 / p99 / max start lateness pooled over
its ticks' runs, the CPU seconds the backtests worker's tree used in the phase's window (it was
busy), what was left queued. Every fired tick is checked: each strategy ran exactly once.
The ratios `backtests_ratio` and `sweep_ratio` are the phase's p99 over idle's (target 1.5).
The last line is one JSON object.
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

TARGET_RATIO = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--grid", type=int, default=15, help="seconds between ticks")
    parser.add_argument("--ticks", type=int, default=4, help="measured ticks per phase")
    parser.add_argument("--backtests", type=int, default=120, help="backtests queued")
    parser.add_argument("--backtest-days", type=int, default=365)
    parser.add_argument("--backtest-concurrency", type=int, default=2)
    parser.add_argument("--sweep-sets", type=int, default=3000)
    parser.add_argument("--history-minutes", type=int, default=525_600)
    args = parser.parse_args()
    with django_on_ephemeral_stack():
        figures = measure(args)
    print(json.dumps(figures))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    import bench._sweep_parts as sweep_parts
    from bench._capacity_fleet import Fleet
    from bench._capacity_procs import processes_start
    from bench._load_parts import BacktestsWorker

    figures: dict[str, Any] = {"benchmark": "ticks_under_load", "grid_s": args.grid}
    figures |= {"strategies": args.strategies, "markets": args.markets, "cores": os.cpu_count()}
    figures["load_start"] = _load()
    fleet = Fleet()
    fleet.exchange.name = "capacity"  # the history's market takes the name "bench"
    fleet.exchange.save(update_fields=["name"])
    sweep_parts.MINUTES = args.history_minutes
    started = time.monotonic()
    market = sweep_parts.market_with_a_year_of_minutes()
    print(f"{args.history_minutes} 1m candles in {time.monotonic() - started:.0f} s", flush=True)
    owner = get_user_model().objects.create_user("bench", password=os.urandom(16).hex())
    backtests = BacktestsWorker(args.backtest_concurrency)
    worker = beat = None
    try:
        backtests.wait_log("ready.")
        figures["backtests_command"] = backtests.command
        figures["backtests_concurrency"] = args.backtest_concurrency
        figures["backtests_nice"] = backtests.niceness()
        worker, beat = processes_start(True)
        figures |= _phases(args, fleet, market, owner, backtests, beat)
    finally:
        for proc in (beat, worker, backtests):
            if proc is not None:
                proc.stop()
        fleet.stop()
    figures["load_end"] = _load()
    return figures


class Clock:
    """The run's grid of ticks: each tick's candles written 3 s before it, then its moment."""

    def __init__(self, fleet: Any, markets: int, boundary: datetime, grid: int) -> None:
        self.fleet, self.markets, self.grid = fleet, markets, grid
        self.boundary = boundary
        self.ticks: list[datetime] = []

    def tick(self) -> datetime:
        from bench._capacity_fleet import candles_close
        from bench.capacity import _sleep_until

        moment = self.boundary + timedelta(seconds=self.grid * (len(self.ticks) + 1))
        _sleep_until(moment - timedelta(seconds=3))
        candles_close(self.fleet.markets[: self.markets], moment)
        _sleep_until(moment)
        self.ticks.append(moment)
        return moment


def _phases(
    args: argparse.Namespace, fleet: Any, market: Any, owner: Any, line: Any, beat: Any
) -> dict[str, Any]:
    from bench._load_parts import backtests_cancel, backtests_queue, backtests_quiet
    from bench.capacity import _planned, _sleep_past_tick

    boundary = _sleep_past_tick(args.grid)
    ids = fleet.start(args.strategies, args.markets, args.grid)
    _planned(timeout=args.grid - 2)
    clock = Clock(fleet, args.markets, boundary, args.grid)
    phases: dict[str, Any] = {"idle": _phase(args, clock, ids, line)}
    queued = backtests_queue(market, owner, args.backtests, args.backtest_days)
    phases["backtests"] = _phase(args, clock, ids, line, backtests=queued)
    backtests_cancel(queued)
    backtests_quiet(timeout=args.grid * 2)
    sweep = _sweep_start(market, owner, args)
    phases["sweep"] = _phase(args, clock, ids, line, sweep=sweep)
    _sweep_stop(sweep)
    return _ends(args, clock, ids, phases, beat)


def _phase(
    args: argparse.Namespace,
    clock: Clock,
    ids: list[int],
    line: Any,
    *,
    backtests: list[int] | None = None,
    sweep: Any = None,
) -> dict[str, Any]:
    """One settling tick, then `ticks` measured ones; the backtests worker's CPU and what
    was left queued over the window from the settling tick to 3/4 of a grid after the last."""
    from bench._capacity_procs import cpu_seconds
    from bench._load_parts import backtests_state
    from bench._sweep_parts import done
    from bench.capacity import _sleep_until

    settle = clock.tick()
    tree = {"backtests": line.root}
    cpu_before, sets_before = cpu_seconds(tree)["backtests"], _done(sweep)
    wall = time.monotonic()
    measured = [clock.tick() for _ in range(args.ticks)]
    _sleep_until(measured[-1] + timedelta(seconds=args.grid * 0.75))
    phase: dict[str, Any] = {"settle_tick": settle.isoformat(), "ticks": len(measured)}
    phase["measured_ticks"] = [tick.isoformat() for tick in measured]
    phase["window_s"] = round(time.monotonic() - wall, 1)
    phase["backtests_worker_cpu_s"] = round(cpu_seconds(tree)["backtests"] - cpu_before, 1)
    phase["backtests_worker_cores"] = round(phase["backtests_worker_cpu_s"] / phase["window_s"], 2)
    phase["load"] = _load()
    if backtests is not None:
        phase["backtests_left"] = backtests_state(backtests)
    if sweep is not None:
        phase["sweep_sets_done_in_window"] = done(sweep.pk) - sets_before
        phase["sweep_sets_left"] = sweep.sets.filter(done_at__isnull=True).count()
    phase["_ticks"] = measured
    return phase


def _done(sweep: Any) -> int:
    from bench._sweep_parts import done

    return 0 if sweep is None else done(sweep.pk)


def _sweep_start(market: Any, owner: Any, args: argparse.Namespace) -> Any:
    """A random SMA-crossover sweep (bench/sweep.py's space and chunks) over the backtests'
    period, its chunks sent to the `backtests` queue."""
    from bench._load_parts import market_history_end
    from bench.sweep import sweep_new

    end = market_history_end(market)
    start = end - timedelta(days=args.backtest_days)
    return sweep_new(market, owner, size=args.sweep_sets, seed=21, start=start, end=end)


def _sweep_stop(sweep: Any) -> None:
    from strategies.sweeps.services import sweep_cancel

    sweep.refresh_from_db()
    if sweep.status == "running":
        sweep_cancel(sweep=sweep)


def _ends(
    args: argparse.Namespace, clock: Clock, ids: list[int], phases: dict[str, Any], beat: Any
) -> dict[str, Any]:
    """Stop the beat after the last tick is published, wait for every run, and read the
    figures: per phase its pooled start lateness, per fired tick its runs per strategy."""
    from bench._capacity_stats import tick_figures
    from bench._load_parts import start_lateness
    from bench.capacity import _drained, _published

    last = clock.ticks[-1]
    _published(last, len(ids), deadline=last + timedelta(seconds=args.grid))
    beat.stop()
    # Ticks the beat fired past the clock's last (none, unless it fired before being stopped).
    fired = _fired_ticks(clock.ticks[0])
    runs = _drained(ids, fired, deadline=datetime.now(UTC) + timedelta(seconds=180))
    figures: dict[str, Any] = {"runs": runs, "ticks_fired": len(fired)}
    for name, phase in phases.items():
        phase["start_lateness_s"] = start_lateness(ids, phase.pop("_ticks"))
        figures[f"{name}_p99_s"] = phase["start_lateness_s"]["p99"]
        figures[f"{name}_backtests_worker_cpu_s"] = phase["backtests_worker_cpu_s"]
    idle = figures["idle_p99_s"] or 0.0
    for name in ("backtests", "sweep"):
        p99 = figures[f"{name}_p99_s"]
        figures[f"{name}_ratio"] = None if not idle or p99 is None else round(p99 / idle, 2)
    figures["target_ratio"] = TARGET_RATIO
    per_tick = [_tick_brief(tick_figures(ids, tick)) for tick in fired]
    once = all(t["exactly_one"] == len(ids) for t in per_tick)
    figures["every_tick_exactly_once"] = once and fired == clock.ticks
    figures["phases"] = phases
    figures["per_tick"] = per_tick
    return figures


def _fired_ticks(first: datetime) -> list[datetime]:
    """Every tick the beat published a firing for, from `first` on."""
    from tasks.models import Firing

    ticks = Firing.objects.filter(scheduled_tick__gte=first).values_list(
        "scheduled_tick", flat=True
    )
    return sorted(set(ticks))


def _tick_brief(figures: dict[str, Any]) -> dict[str, Any]:
    keep = ("tick", "exactly_one", "none", "several", "statuses")
    return {key: figures[key] for key in keep} | {
        "start_p99_s": figures["start_lateness_s"]["p99"],
        "publish_p99_s": figures["publish_lateness_s"]["p99"],
    }


def _load() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


if __name__ == "__main__":
    main()
