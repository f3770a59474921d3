"""bench/ticks_under_load.py's PostgreSQL write meter: WAL bytes, write transactions and sweep
result rows between two moments, and one connection's rate for sweep result rows.

WAL bytes are `pg_current_wal_lsn()` deltas and write transactions the transaction ids handed
out (`pg_snapshot_xmax(pg_current_snapshot())`): both exact at the moment they are read, where
`pg_stat_database`'s counters reach the shared view up to 10 s late. Reading them assigns no id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

COUNTERS = "SELECT pg_current_wal_lsn()::text, pg_snapshot_xmax(pg_current_snapshot())::text"


@dataclass(frozen=True)
class Sample:
    at: float
    wal: int
    xid: int
    rows: int


def sample(sweep_id: int | None) -> Sample:
    """The server's WAL position and next transaction id, and the sweep's result rows, now."""
    from django.db import connection

    from bench._sweep_parts import done

    with connection.cursor() as cursor:
        cursor.execute(COUNTERS)
        lsn, xmax = cursor.fetchone()
    high, low = lsn.split("/")
    rows = 0 if sweep_id is None else done(sweep_id)
    return Sample(time.monotonic(), (int(high, 16) << 32) + int(low, 16), int(xmax), rows)


def delta(first: Sample, last: Sample) -> dict[str, float]:
    return {
        "s": last.at - first.at,
        "wal_bytes": last.wal - first.wal,
        "write_xacts": last.xid - first.xid,
        "result_rows": last.rows - first.rows,
    }


def rates(windows: list[dict[str, float]]) -> dict[str, float]:
    """Per second over the summed windows."""
    seconds = sum(w["s"] for w in windows) or 1.0
    keys = ("wal_bytes", "write_xacts", "result_rows")
    out = {f"{key}_per_s": round(sum(w[key] for w in windows) / seconds, 1) for key in keys}
    return {"between_ticks_s": round(seconds, 1)} | out


def per_set(phase: dict[str, float], idle: dict[str, float]) -> dict[str, Any]:
    """What one result row of a sweep cost the server: the phase's rates less idle's (the
    ticks' own writes between ticks), over its rows per second."""
    rows = phase["result_rows_per_s"]
    if not rows:
        return {"result_rows_per_s": rows}
    extra = {
        key: max(0.0, phase[f"{key}_per_s"] - idle[f"{key}_per_s"])
        for key in ("wal_bytes", "write_xacts")
    }
    return {
        "result_rows_per_s": rows,
        "write_xacts_per_row": round(extra["write_xacts"] / rows, 3),
        "wal_bytes_per_row": round(extra["wal_bytes"] / rows),
    }


def one_connection_rows_per_s(market: Any, owner: Any, rows: int = 2000) -> dict[str, float]:
    """Sweep result rows per second through the sweeps' own write (`sets_record`) on this one
    connection: one row per commit (BACKTEST_WRITE_SECONDS=0) and ten per commit (a chunk's
    second at about 10 sets/s), waiting for the WAL flush at commit (`sync`) and not."""
    from django.test.utils import override_settings

    from strategies.backtesting.yielding import background_session
    from strategies.sweeps.running import sets_record

    outcome = {"sharpe": 1.0, "trades": 3, "total_return_pct": 1.0, "trades_hash": "x" * 64}
    out = {}
    for per_commit in (1, 10):
        for label, synchronous in (("sync", True), ("async", False)):
            todo = _planned_rows(market, owner, rows)
            started = time.perf_counter()
            with override_settings(BACKTEST_SYNCHRONOUS_COMMIT=synchronous), background_session():
                for i in range(0, rows, per_commit):
                    batch = [(row, dict(outcome)) for row in todo[i : i + per_commit]]
                    sets_record(sweep=todo[0].sweep, outcomes=batch)
            seconds = time.perf_counter() - started
            out[f"rows_per_s_{per_commit}_per_commit_{label}"] = round(rows / seconds, 1)
    return out | {"sweep_advance_per_s": _advances_per_s(market, owner)}


def _advances_per_s(market: Any, owner: Any, calls: int = 500) -> float:
    """`sweep_advance` calls per second on one running sweep of 2,000 sets, most still to run
    (what every chunk's end does): each holds the sweep's row while it runs, so this is the
    most chunk ends one sweep can take per second, from however many workers."""
    from strategies.sweeps.models import Sweep
    from strategies.sweeps.running import sweep_advance

    sweep = _planned_rows(market, owner, 2000)[0].sweep
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.RUNNING)
    started = time.perf_counter()
    for _ in range(calls):
        sweep_advance(sweep_id=sweep.pk)
    rate = calls / (time.perf_counter() - started)
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.CANCELLED)
    return round(rate, 1)


def _planned_rows(market: Any, owner: Any, rows: int) -> list[Any]:
    """A cancelled random sweep of `rows` SMA sets (planned rows, no task sent to a worker)."""
    from bench.sweep import sweep_new
    from strategies.sweeps.models import Sweep

    sweep = sweep_new(market, owner, size=rows, seed=rows + int(time.time()))
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.CANCELLED)
    return list(sweep.sets.order_by("id"))
