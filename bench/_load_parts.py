"""bench/ticks_under_load.py's parts: the Procfile's `backtests` worker, the backtests and sweep
that keep it busy, and the start lateness of a phase's runs pooled over its ticks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench._capacity_procs import Proc
from bench._capacity_stats import percentile

BASE_DIR = Path(__file__).resolve().parent.parent

STARTS = """
SELECT extract(epoch FROM r.started_at - r.scheduled_tick)::float FROM strategies_strategyrun r
 WHERE r.strategy_id = ANY(%s::bigint[]) AND r.scheduled_tick = ANY(%s::timestamptz[])
   AND r.started_at IS NOT NULL
"""


def procfile_line(name: str) -> str:
    """The command of the Procfile's `name:` line, as written."""
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"no `{name}:` line in the Procfile")


# The backtests line before it gave way to live work: `nice` only, no pause, a write per
# progress step and per set, each commit waiting for the WAL flush.
LEVERS = {
    "on": {},
    "off": {
        "BACKTEST_WORKER_PRIORITY": "nice",
        "BACKTEST_YIELD_SECONDS": "0",
        "BACKTEST_WRITE_SECONDS": "0",
        "BACKTEST_SYNCHRONOUS_COMMIT": "1",
    },
}
POLICIES = {os.SCHED_OTHER: "other", os.SCHED_BATCH: "batch", os.SCHED_IDLE: "idle"}


class BacktestsWorker(Proc):
    """The Procfile's `backtests` line run through the shell as a process manager would
    (`nice -n 10 env BACKTEST_WORKER_PRIORITY=... celery ... -Q backtests`), the venv's `celery`
    first on PATH; with `levers` "off", as it ran before it gave way to live work."""

    def __init__(self, concurrency: int, levers: str = "on") -> None:
        self.name, self.levers = "backtests", levers
        self.command = procfile_line("backtests")
        env = dict(os.environ, BACKTEST_CONCURRENCY=str(concurrency), PYTHONUNBUFFERED="1")
        env.update(LEVERS[levers])
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["LOG_LEVEL"] = "INFO"
        self.log_path = Path(tempfile.mkstemp(prefix="loadbench-backtests-", suffix=".log")[1])
        self.process = subprocess.Popen(
            ["sh", "-c", self.command],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.root = psutil.Process(self.process.pid)

    def stop(self) -> None:
        """A warm shutdown: SIGTERM to celery's main process alone (a signal to the whole group
        would kill the pool processes mid-task), which lets running tasks finish."""
        if self.process.poll() is None:
            try:
                self.celery_processes()[0].terminate()
                self.process.wait(90)
            except (IndexError, psutil.NoSuchProcess, subprocess.TimeoutExpired):
                super().stop()

    def celery_processes(self) -> list[psutil.Process]:
        """The worker's celery processes (main and pool; not the shell)."""
        tree = [self.root, *self.root.children(recursive=True)]
        return [p for p in tree if p.cmdline()[:1] != ["sh"]]

    def niceness(self) -> list[int]:
        return sorted({p.nice() for p in self.celery_processes()})

    def autogroup(self) -> str:
        """Its session's autogroup and that group's nice (`/proc/PID/autogroup`)."""
        path = Path(f"/proc/{self.celery_processes()[0].pid}/autogroup")
        return path.read_text().strip() if path.exists() else "none"

    def policies(self) -> list[str]:
        """The CPU scheduling policies of its celery processes (`idle`: SCHED_IDLE)."""
        found = {os.sched_getscheduler(p.pid) for p in self.celery_processes()}
        return sorted(POLICIES.get(policy, str(policy)) for policy in found)


def backtests_queue(market: Any, owner: Any, count: int, days: int) -> list[int]:
    """`count` SMA-crossover backtests of the last `days` of the market's history on the
    `backtests` queue (no backfill: the candles are stored); their ids."""
    from datetime import UTC

    from strategies.backtesting.services import backtest_create

    newest = market_history_end(market)
    start = (newest - timedelta(days=days)).astimezone(UTC)
    made = []
    for n in range(count):
        data = {
            "market": market,
            "timeframe": "1m",
            "kind": "sma_crossover",
            "parameters": {"fast": 5 + n % 40, "slow": 70 + n % 200},
            "start": start,
            "end": newest,
            "backfill": False,
        }
        made.append(backtest_create(owner=owner, data=data).pk)
    return made


def market_history_end(market: Any) -> datetime:
    """The close time of the market's newest stored 1m candle."""
    from marketdata.models import Candle

    newest = Candle.objects.filter(market=market, timeframe="1m").latest("open_time")
    return newest.open_time + timedelta(minutes=1)


def backtests_state(ids: list[int]) -> dict[str, int]:
    """How many of the backtests are in each status."""
    from django.db.models import Count

    from strategies.backtesting.models import Backtest

    rows = Backtest.objects.filter(pk__in=ids).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def backtests_cancel(ids: list[int]) -> None:
    """Cancel every backtest of `ids` not finished (pending now, running at its next step)."""
    from strategies.backtesting.models import Backtest
    from strategies.backtesting.services import backtest_cancel

    unfinished = Backtest.objects.filter(pk__in=ids, status__in=["pending", "running"])
    for backtest in unfinished:
        backtest_cancel(backtest=backtest)


def backtests_quiet(timeout: float) -> bool:
    """Wait until no backtest runs (or `timeout`); whether none does."""
    from strategies.backtesting.models import Backtest

    deadline = time.monotonic() + timeout
    while Backtest.objects.filter(status="running").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def start_lateness(strategy_ids: list[int], ticks: list[datetime]) -> dict[str, Any]:
    """p50 / p95 / p99 / max of how long after its tick each run of these ticks started,
    pooled over the ticks."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(STARTS, [strategy_ids, ticks])
        values = [row[0] for row in cursor.fetchall()]
    shares = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}
    spread = {name: percentile(values, share) for name, share in shares.items()}
    return {"runs_started": len(values)} | {
        name: None if value is None else round(value, 3) for name, value in spread.items()
    }
