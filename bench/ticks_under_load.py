"""Benchmark: a 1,000-strategy tick's start lateness while idle, then while long backtests
saturate the Procfile's `backtests` worker line, then during a parameter sweep, each load with the
line as it ran before it gave way to live work (`off`) and as the Procfile runs it now (`on`),
in one run.

One throw-away PostgreSQL and Redis and one set of processes for the whole run: the Procfile's
strategy worker (`--concurrency=2`) and beat as `bench/capacity.py` starts them, and the
Procfile's `backtests` line run as written (`nice -n 10 env BACKTEST_WORKER_PRIORITY=...
celery ... -Q backtests`, `BACKTEST_CONCURRENCY` from `--backtest-concurrency`), restarted with
the `off` settings (`bench/_load_parts.py`'s LEVERS: nice only, no pause, a write per step,
each commit waiting for the WAL flush) where the plan says so. N active paper `dca` strategies
on 50 markets fire every `--grid` seconds (capacity's fleet and candles: each tick's closing
candle is written just before it). Phases follow `--plan` (default: idle, backtests off and
on, idle, sweep off and on), each of `--ticks` measured ticks after one unmeasured settling
tick. The load: SMA-crossover backtests over `--backtest-days` of a stored 1m history, more
queued than the phases can run; an SMA-crossover sweep of `--sweep-sets` random sets over the
same period. Per phase: p50 / p95 / p99 / max start lateness pooled over its ticks' runs, the
CPU seconds the backtests line used, what was left queued, and PostgreSQL's writes between
ticks (`bench/_load_writes.py`; from them, what a sweep result row costs the server). Every
fired tick is checked: each strategy ran exactly once. A phase's ratio is its p99 over the
idle phases' pooled p99 (target 1.5); `backtests_ratio` and `sweep_ratio` are the `on` ones.
Last, with every process stopped, one connection's rate for sweep result rows. The load
average is printed as it goes; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._stack import django_on_ephemeral_stack  # noqa: E402

TARGET_RATIO = 1.5
DEFAULT_PLAN = "idle,backtests:off,backtests:on,idle,sweep:off,sweep:on"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--grid", type=int, default=15, help="seconds between ticks")
    parser.add_argument("--ticks", type=int, default=4, help="measured ticks per phase")
    parser.add_argument("--plan", default=DEFAULT_PLAN, help="phases: idle, backtests:on ...")
    parser.add_argument("--backtests", type=int, default=120, help="backtests queued")
    parser.add_argument("--backtest-days", type=int, default=365)
    parser.add_argument("--backtest-concurrency", type=int, default=2)
    parser.add_argument("--sweep-sets", type=int, default=3000)
    parser.add_argument("--history-minutes", type=int, default=525_600)
    args = parser.parse_args()
    print(f"load at start {_load()}", flush=True)
    with django_on_ephemeral_stack():
        figures = measure(args)
    print(json.dumps(figures))


@dataclass
class Run:
    """What the phases share: the arguments, the fleet, the history's market, the clock, the
    backtests line (replaced when the levers change) and the load queued on it."""

    args: argparse.Namespace
    fleet: Any
    market: Any
    owner: Any
    line: Any
    clock: Any = None
    ids: list[int] = field(default_factory=list)
    backtests: list[int] | None = None
    sweep: Any = None


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    import bench._sweep_parts as sweep_parts
    from bench._capacity_fleet import Fleet
    from bench._capacity_procs import processes_start
    from bench._load_parts import BacktestsWorker
    from bench._load_writes import one_connection_rows_per_s

    figures: dict[str, Any] = {"benchmark": "ticks_under_load", "grid_s": args.grid}
    figures |= {"strategies": args.strategies, "markets": args.markets, "cores": os.cpu_count()}
    figures |= {"plan": args.plan, "code": _commit(), "load_start": _load()}
    fleet = Fleet()
    fleet.exchange.name = "capacity"  # the history's market takes the name "bench"
    fleet.exchange.save(update_fields=["name"])
    sweep_parts.MINUTES = args.history_minutes
    started = time.monotonic()
    market = sweep_parts.market_with_a_year_of_minutes()
    print(f"{args.history_minutes} 1m candles in {time.monotonic() - started:.0f} s", flush=True)
    owner = get_user_model().objects.create_user("bench", password=os.urandom(16).hex())
    run = Run(args, fleet, market, owner, BacktestsWorker(args.backtest_concurrency))
    worker = beat = None
    try:
        run.line.wait_log("ready.")
        figures["backtests_command"] = run.line.command
        figures["backtests_concurrency"] = args.backtest_concurrency
        worker, beat = processes_start(True)
        figures |= _phases(run, beat)
    finally:
        for proc in (beat, worker, run.line):
            if proc is not None:
                proc.stop()
        fleet.stop()
    figures["one_connection_result_rows"] = one_connection_rows_per_s(market, owner)
    print(f"one connection: {figures['one_connection_result_rows']}", flush=True)
    figures["load_end"] = _load()
    return figures


class Clock:
    """The run's grid of ticks: each tick's candles written 3 s before it, then its moment."""

    def __init__(self, fleet: Any, markets: int, boundary: datetime, grid: int) -> None:
        self.fleet, self.markets, self.grid = fleet, markets, grid
        self.boundary = boundary
        self.ticks: list[datetime] = []

    def next_moment(self) -> datetime:
        return self.boundary + timedelta(seconds=self.grid * (len(self.ticks) + 1))

    def tick(self) -> datetime:
        from bench._capacity_fleet import candles_close
        from bench.capacity import _sleep_until

        moment = self.next_moment()
        _sleep_until(moment - timedelta(seconds=3))
        candles_close(self.fleet.markets[: self.markets], moment)
        _sleep_until(moment)
        self.ticks.append(moment)
        return moment

    def catch_up(self) -> None:
        """Tick (unmeasured) every moment too close to write its candles in time (after a
        restart of the backtests line took long)."""
        while self.next_moment() - timedelta(seconds=4) < datetime.now(UTC):
            self.tick()


def _phases(run: Run, beat: Any) -> dict[str, Any]:
    from bench.capacity import _planned, _sleep_past_tick

    args = run.args
    boundary = _sleep_past_tick(args.grid)
    run.ids = run.fleet.start(args.strategies, args.markets, args.grid)
    _planned(timeout=args.grid - 2)
    run.clock = Clock(run.fleet, args.markets, boundary, args.grid)
    phases: dict[str, Any] = {}
    for step in args.plan.split(","):
        kind, _, levers = step.partition(":")
        name = f"idle_{sum(k.startswith('idle') for k in phases) + 1}"
        if kind != "idle":
            name = f"{kind}_{levers or 'on'}"
            _line_switch(run, levers or "on")
        _load_switch(run, kind)
        run.clock.catch_up()  # a restart or a wait for cancelled backtests may have been long
        phases[name] = _phase(run, kind)
        _print_phase(name, phases[name])
    _load_switch(run, "idle")
    return _ends(run, phases, beat)


def _print_phase(name: str, phase: dict[str, Any]) -> None:
    from bench._load_writes import rates

    brief = {k: phase.get(k) for k in ("levers", "load", "backtests_worker_cores")}
    print(f"{name}: {brief} writes {rates(phase['_windows'])}", flush=True)


def _line_switch(run: Run, levers: str) -> None:
    """The backtests line with these levers: restarted (warm: running tasks finish, the
    queued ones wait in Redis) if it has others."""
    from bench._load_parts import BacktestsWorker

    if run.line.levers != levers:
        run.line.stop()
        run.line = BacktestsWorker(run.args.backtest_concurrency, levers)
        run.line.wait_log("ready.")


def _load_switch(run: Run, kind: str) -> None:
    """Queue the phase's load if it is not queued; cancel the other one."""
    from bench._load_parts import backtests_cancel, backtests_queue, backtests_quiet

    args = run.args
    if kind != "backtests" and run.backtests is not None:
        backtests_cancel(run.backtests)
        backtests_quiet(timeout=args.grid * 2)
        run.backtests = None
    if kind != "sweep" and run.sweep is not None:
        _sweep_stop(run.sweep)
        run.sweep = None
    if kind == "backtests" and run.backtests is None:
        run.backtests = backtests_queue(run.market, run.owner, args.backtests, args.backtest_days)
    if kind == "sweep" and run.sweep is None:
        run.sweep = _sweep_start(run.market, run.owner, args)


def _phase(run: Run, kind: str) -> dict[str, Any]:
    """One settling tick, then `ticks` measured ones, PostgreSQL's writes sampled between
    each and the next; the backtests line's CPU and what was left queued over the window from
    the settling tick to 3/4 of a grid after the last."""
    from bench._capacity_procs import cpu_seconds
    from bench._load_parts import backtests_state
    from bench.capacity import _sleep_until

    settle = run.clock.tick()
    tree = {"backtests": run.line.root}
    cpu_before, wall = cpu_seconds(tree)["backtests"], time.monotonic()
    measured, windows = [], []
    for _ in range(run.args.ticks):
        measured.append(run.clock.tick())
        windows.append(_between(run, measured[-1]))
    _sleep_until(measured[-1] + timedelta(seconds=run.args.grid * 0.75))
    phase: dict[str, Any] = {"settle_tick": settle.isoformat(), "ticks": len(measured)}
    if kind != "idle":
        phase |= {"levers": run.line.levers, "backtests_nice": run.line.niceness()}
        phase["backtests_policies"] = run.line.policies()
        phase["backtests_autogroup"] = run.line.autogroup()
    phase["window_s"] = round(time.monotonic() - wall, 1)
    phase["backtests_worker_cpu_s"] = round(cpu_seconds(tree)["backtests"] - cpu_before, 1)
    phase["backtests_worker_cores"] = round(phase["backtests_worker_cpu_s"] / phase["window_s"], 2)
    phase["load"] = _load()
    if kind == "backtests":
        phase["backtests_left"] = backtests_state(run.backtests)
    if kind == "sweep":
        phase["sweep_sets_left"] = run.sweep.sets.filter(done_at__isnull=True).count()
    phase["_ticks"], phase["_windows"] = measured, windows
    return phase


def _between(run: Run, tick: datetime) -> dict[str, float]:
    """PostgreSQL's writes from 4 s after the tick (its runs are done) to 4 s before the next
    tick's candles are written: the load's own writes, and what little the fleet writes."""
    from bench._load_writes import delta, sample
    from bench.capacity import _sleep_until

    sweep_id = None if run.sweep is None else run.sweep.pk
    _sleep_until(tick + timedelta(seconds=4))
    first = sample(sweep_id)
    _sleep_until(tick + timedelta(seconds=run.args.grid - 4))
    return delta(first, sample(sweep_id))


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


def _ends(run: Run, phases: dict[str, Any], beat: Any) -> dict[str, Any]:
    """Stop the beat after the last tick is published, wait for every run, and read the
    figures: per phase its pooled start lateness and writes, per fired tick its runs."""
    from bench._capacity_stats import tick_figures
    from bench.capacity import _drained, _published

    ids, clock = run.ids, run.clock
    last = clock.ticks[-1]
    _published(last, len(ids), deadline=last + timedelta(seconds=run.args.grid))
    beat.stop()
    # Ticks the beat fired past the clock's last (none, unless it fired before being stopped).
    fired = _fired_ticks(clock.ticks[0])
    runs = _drained(ids, fired, deadline=datetime.now(UTC) + timedelta(seconds=180))
    figures: dict[str, Any] = {"runs": runs, "ticks_fired": len(fired)}
    figures |= _ratios(ids, phases)
    per_tick = [_tick_brief(tick_figures(ids, tick)) for tick in fired]
    once = all(t["exactly_one"] == len(ids) for t in per_tick)
    figures["every_tick_exactly_once"] = once and fired == clock.ticks
    figures["phases"] = phases
    figures["per_tick"] = per_tick
    return figures


def _ratios(ids: list[int], phases: dict[str, Any]) -> dict[str, Any]:
    """Each phase's p99 and writes; each loaded phase's p99 over the idle phases' pooled one;
    for sweep phases what a result row cost the server."""
    from bench._load_parts import start_lateness
    from bench._load_writes import per_set, rates

    idle_ticks = [t for name, p in phases.items() if name.startswith("idle") for t in p["_ticks"]]
    idle_windows = [w for n, p in phases.items() if n.startswith("idle") for w in p["_windows"]]
    idle = start_lateness(ids, idle_ticks)
    idle_writes = rates(idle_windows)
    figures: dict[str, Any] = {"idle_p99_s": idle["p99"], "idle_pooled": idle}
    figures["idle_writes"] = idle_writes
    for name, phase in phases.items():
        phase["start_lateness_s"] = start_lateness(ids, phase.pop("_ticks"))
        phase["writes"] = rates(phase.pop("_windows"))
        figures[f"{name}_p99_s"] = phase["start_lateness_s"]["p99"]
        if name.startswith("sweep"):
            figures[f"{name}_result_row_cost"] = per_set(phase["writes"], idle_writes)
        if name.startswith("idle"):
            continue
        p99 = phase["start_lateness_s"]["p99"]
        ratio = None if not idle["p99"] or p99 is None else round(p99 / idle["p99"], 2)
        figures[f"{name}_ratio"] = ratio
    figures["backtests_ratio"] = figures.get("backtests_on_ratio")
    figures["sweep_ratio"] = figures.get("sweep_on_ratio")
    figures["target_ratio"] = TARGET_RATIO
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


def _commit() -> str:
    import subprocess

    head = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(head, cwd=BASE_DIR, capture_output=True, text=True).stdout.strip()


def _load() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


if __name__ == "__main__":
    main()
