"""Our beat scheduler against stock django-celery-beat DatabaseScheduler, side by side in one run.

    python bench/beat.py [--sizes 1000,10000,100000] [--budget 240] [--sides stock,ours,ours2]

At each size, every job is the interval job of an active paper strategy (as in production).
Each scheduler runs in a process of its own (bench/_beat_child.py), driven as `celery beat`
drives it, against a throw-away PostgreSQL and a real Redis broker that nothing consumes:
- start-up: from constructing the scheduler until its first tick returned;
- idle tick: a tick with nothing due (median of the child's timed ticks);
- burst: 1,000 of the jobs share one tick; the queue's length is polled every 2 ms, so
  each message's lateness is when it reached the broker after its tick (p50, p95, p99, max);
  then every message is read: exactly 1,000, one per job;
- edit: one job re-timed through `strategy_update`; the time from its commit until the
  running scheduler has applied it;
- resident memory after start-up, and at its peak.
Side `ours2` runs two of our beats together on the same burst (0 duplicates expected). A phase
that takes longer than the budget is cut; the figures say what it reached. The last line is
one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench import _burst  # noqa: E402
from bench._stack import django_on_ephemeral_stack  # noqa: E402

BURST = 1_000
QUIET_DAYS = (2, 60)  # quiet jobs run every few days, their next tick hours away
EDITS = 3  # edits timed per side and size
PHASES = random.Random(9)  # when, within a beat's sleep, each edit is made
SIDES = {"stock": ("stock", 1), "ours": ("ours", 1), "ours2": ("ours", 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="jobs, comma-separated")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds a phase may take")
    parser.add_argument("--sides", default=",".join(SIDES), help="of: " + ", ".join(SIDES))
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    sides = [side for side in args.sides.split(",") if side]

    with django_on_ephemeral_stack(SCHEDULER_BACKEND="celery"):
        figures = _measure(sizes, sides, args.budget)
    print(json.dumps(figures))


def _measure(sizes: list[int], sides: list[str], budget: float) -> dict[str, Any]:
    from bench import _beat_jobs as jobs

    started, load_before = time.monotonic(), os.getloadavg()
    figures: dict[str, Any] = {"benchmark": "beat", "sizes": sizes, "budget_s": budget}
    quiet = jobs.quiet_intervals(datetime.now(UTC), *QUIET_DAYS)
    fleet = jobs.Fleet(quiet=quiet)
    for size in sizes:
        fleet.grow(size)
        planned, spent = fleet.plan()
        synced = fleet.sync()
        figures[f"ours_{size}_plan_new_jobs_s"] = round(spent, 2)
        figures[f"ours_{size}_full_jobs_sync_s"] = round(synced, 2)
        print(f"== {size:,} interval jobs ({planned:,} new ones planned for ours in "
              f"{spent:.1f} s, a full jobs_sync in {synced:.1f} s); load {_load()}",
              flush=True)  # fmt: skip
        for side in sides:
            result = _side(side, fleet, budget)
            figures.update({f"{side}_{size}_{name}": value for name, value in result.items()})
            fleet.disarm(BURST)
            fleet.plan()
        _table(figures, size, sides)
    figures["load_average_before"] = [round(x, 2) for x in load_before]
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["minutes"] = round((time.monotonic() - started) / 60, 1)
    print(f"load average before {_load(load_before)}, after {_load()}", flush=True)
    return figures


def _side(side: str, fleet: Any, budget: float) -> dict[str, Any]:
    """One side at the fleet's size: its beats started, idle, on edits, then on a burst."""
    kind, beats = SIDES[side]
    client = _burst.broker()
    client.delete(_burst.QUEUE)
    children = [_Child.spawn(kind, f"{side}-{fleet.size}-{n}") for n in range(beats)]
    result: dict[str, Any] = {}
    try:
        ready = [child.expect("ready", budget) for child in children]
        if None in ready:
            result["reached"] = f"not started within {budget:.0f} s"
            return result
        result["startup_s"] = round(max(r["startup_s"] for r in ready), 3)
        result["rss_mb"] = round(max(r["rss_mb"] for r in ready))
        idle = [child.expect("idle", budget) for child in children]
        if None in idle:
            result["reached"] = f"started; idle ticks not done within {budget:.0f} s"
            return result
        ticks = [tick for i in idle for tick in i["ticks_s"]]
        result["idle_tick_ms"] = round(statistics.median(ticks) * 1000, 2)
        if beats == 1:
            result.update(_edit_phase(children[0], fleet, budget))
        result.update(_burst_phase(children, fleet, client, budget, result.get("edit_applied_s")))
        for child in children:
            stopped = child.stop(budget)
            if stopped is not None:
                peak = max(result.get("peak_rss_mb", 0), round(stopped["peak_rss_mb"]))
                result["peak_rss_mb"] = peak
    finally:
        for child in children:
            child.kill()
    return result


def _burst_phase(
    children: list[_Child], fleet: Any, client: Any, budget: float, edit_s: float | None
) -> dict[str, Any]:
    """Put the burst's jobs on one tick, far enough ahead for every beat to apply that first."""
    lead = 8.0 + 3 * (edit_s if edit_s is not None else 2.0)
    strays = client.llen(_burst.QUEUE)
    name, seconds, tick = fleet.arm_burst(BURST, lead=min(lead, budget))
    result: dict[str, Any] = {"burst_armed_ahead_s": round(tick - time.time(), 1)}
    if strays:
        raise SystemExit(f"{strays} messages were published before the burst was armed")
    for child in children:
        child.send({"watch": name, "seconds": seconds})
        applied = child.expect("applied", budget)
        if applied is None:
            return {**result, "burst_reached": f"not armed within {budget:.0f} s"}
        result["burst_armed_in_time"] = result.get("burst_armed_in_time", True) and (
            applied["at"] < tick - 0.5
        )
    arrived = _burst.arrivals(client, BURST, tick=tick, until=tick + budget)
    got = _burst.delivered(client)
    result.update({f"burst_{k}_ms": v for k, v in _burst.lateness(arrived, tick).items()})
    result.update(
        burst_messages=got.messages,
        burst_jobs=got.jobs,
        burst_duplicates=got.duplicates,
        burst_task_ids_unique=got.task_ids_unique,
    )
    result.update(_firing_rows(tick))
    if got.messages < BURST:
        result["burst_reached"] = f"{got.messages} of {BURST} within {budget:.0f} s of the tick"
    return result


def _firing_rows(tick: float) -> dict[str, Any]:
    """Ours only: the burst's firing rows (one per job) and their own publish lateness."""
    from tasks.models import Firing

    rows = Firing.objects.filter(scheduled_tick=datetime.fromtimestamp(tick, UTC))
    published = [at.timestamp() for at in rows.values_list("published_at", flat=True) if at]
    if not rows.exists():
        return {}
    lateness = _burst.lateness(published, tick)
    return {
        "burst_firing_rows": rows.count(),
        "burst_rows_p99_ms": lateness.get("p99"),
        "burst_rows_max_ms": lateness.get("max"),
    }


def _edit_phase(child: _Child, fleet: Any, budget: float) -> dict[str, Any]:
    """EDITS edits, each at a random moment of the beat's sleep; median and max commit-to-applied.

    The commands arrive just after a tick (the child answers after one): an edit made at once
    would always wait out a whole sleep, so it waits a random part of one first.
    """
    spent = []
    for _ in range(EDITS):
        time.sleep(PHASES.uniform(0, 5))
        name, seconds, edit = fleet.prepare_edit()
        child.send({"watch": name, "seconds": seconds})
        if child.expect("watching", budget) is None:
            return {"edit_reached": "the scheduler did not take the watch command"}
        committed = edit()
        applied = child.expect("applied", budget)
        if applied is None:
            return {"edit_reached": f"not applied within {budget:.0f} s"}
        spent.append(applied["at"] - committed)
    return {
        "edit_applied_s": round(statistics.median(spent), 3),
        "edit_applied_max_s": round(max(spent), 3),
    }


@dataclass
class _Child:
    """A scheduler process of bench/_beat_child.py, spoken to in JSON lines."""

    name: str
    process: subprocess.Popen[bytes]
    _buffer: bytes = field(default=b"")

    @classmethod
    def spawn(cls, kind: str, name: str) -> _Child:
        log = Path(os.environ.get("BENCH_LOG_DIR", tempfile.gettempdir())) / f"beat-{name}.log"
        process = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "bench" / "_beat_child.py"), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
            cwd=BASE_DIR,
        )
        return cls(name=name, process=process)

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()

    def expect(self, event: str, timeout: float) -> dict[str, Any] | None:
        """The next event of that name within `timeout` seconds, or None (and it is killed)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, _, self._buffer = self._buffer.partition(b"\n")
                message = json.loads(line)
                if message.get("event") == event:
                    return message
            fd = self.process.stdout.fileno()
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                self.kill()
                return None
            self._buffer += chunk

    def stop(self, timeout: float) -> dict[str, Any] | None:
        self.send({"stop": True})
        return self.expect("stopped", timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _table(figures: dict[str, Any], size: int, sides: list[str]) -> None:
    rows = (
        ("start-up", "startup_s", "s"),
        ("idle tick", "idle_tick_ms", "ms"),
        ("edit applied after (median)", "edit_applied_s", "s"),
        ("edit applied after (max)", "edit_applied_max_s", "s"),
        ("burst lateness p50", "burst_p50_ms", "ms"),
        ("burst lateness p95", "burst_p95_ms", "ms"),
        ("burst lateness p99", "burst_p99_ms", "ms"),
        ("burst lateness max", "burst_max_ms", "ms"),
        ("burst messages in the queue", "burst_messages", ""),
        ("burst duplicates", "burst_duplicates", ""),
        ("burst firing rows (ours)", "burst_firing_rows", ""),
        ("burst p99 by published_at (ours)", "burst_rows_p99_ms", "ms"),
        ("RSS after start-up", "rss_mb", "MB"),
        ("RSS peak", "peak_rss_mb", "MB"),
    )
    print(f"   {'':<30}" + "".join(f"{side:>14}" for side in sides))
    for label, key, unit in rows:
        cells = [figures.get(f"{side}_{size}_{key}") for side in sides]
        print(f"   {label:<30}" + "".join(f"{_cell(c, unit):>14}" for c in cells))
    for side in sides:
        for key in ("reached", "burst_reached", "edit_reached"):
            if f"{side}_{size}_{key}" in figures:
                print(f"   {side}: {figures[f'{side}_{size}_{key}']}")
        if figures.get(f"{side}_{size}_burst_armed_in_time") is False:
            print(f"   {side}: had not applied the burst's schedule by its tick")
    sys.stdout.flush()


def _cell(value: Any, unit: str) -> str:
    return "-" if value is None else f"{value:,}{unit}" if unit != "s" else f"{value:.2f}s"


def _load(values: tuple[float, ...] | None = None) -> str:
    return " ".join(f"{x:.2f}" for x in (values or os.getloadavg()))


if __name__ == "__main__":
    main()
