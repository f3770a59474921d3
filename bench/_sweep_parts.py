"""bench/sweep.py's parts: a year of 1m candles, backtest worker processes, waiting on sweeps."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
WARMUP_DAYS = 1  # candles before the period, so the slowest average decides from its start
MINUTES = 525_600


def market_with_a_year_of_minutes(seed: int = 7) -> object:
    """A market with a year of 1m candles (a realistic random walk) and a day before it,
    written with one COPY."""
    from django.db import connection

    from marketdata.models import Exchange, Market

    exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp")
    market = Market.objects.create(
        exchange=exchange, base="BTC", quote="USD", symbol="BTC/USD", exchange_symbol="btcusd"
    )
    count = MINUTES + WARMUP_DAYS * 1440
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.0008, count) + 0.0004 * np.sin(np.arange(count) / 700)
    closes = np.round(30_000 * np.exp(np.cumsum(steps)), 2)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    first = YEAR_START - timedelta(days=WARMUP_DAYS)
    buffer = io.StringIO()
    for i in range(count):
        o, c = opens[i], closes[i]
        moment = (first + timedelta(minutes=i)).isoformat()
        buffer.write(f"{market.pk}\t1m\t{moment}\t{o:.2f}\t{max(o, c):.2f}\t{min(o, c):.2f}")
        buffer.write(f"\t{c:.2f}\t1\tt\n")
    columns = "market_id, timeframe, open_time, open, high, low, close, volume, is_closed"
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY marketdata_candle ({columns}) FROM STDIN") as copy,
    ):
        copy.write(buffer.getvalue())
    return market


class Worker:
    """A `celery worker` process on the backtests queue, in its own process group."""

    def __init__(self, concurrency: int) -> None:
        from project.celery import app

        self.hostname = f"bench-{uuid.uuid4().hex[:8]}@localhost"
        self.log = Path(tempfile.mkstemp(prefix="bench-sweep-worker-", suffix=".log")[1])
        args = [sys.executable, "-m", "celery", "-A", "project", "worker", "--pool=prefork"]
        args += [f"--concurrency={concurrency}", "--queues=backtests", "--loglevel=WARNING"]
        args += [f"--hostname={self.hostname}", "--without-gossip", "--without-mingle"]
        self.process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=dict(os.environ),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait(lambda: app.control.ping(destination=[self.hostname], timeout=0.5), 120, "a ping")

    def children(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def cpu_seconds(self) -> float:
        """User and system CPU time of the worker and its pool processes so far."""
        import psutil

        parent = psutil.Process(self.process.pid)
        times = [p.cpu_times() for p in (parent, *parent.children())]
        return sum(t.user + t.system for t in times)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def wait(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll until `condition()` is truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def done(sweep_id: int) -> int:
    from strategies.sweeps.models import SweepSet

    return SweepSet.objects.filter(sweep_id=sweep_id, done_at__isnull=False).count()


def status(sweep_id: int) -> str:
    from strategies.sweeps.models import Sweep

    return Sweep.objects.get(pk=sweep_id).status
