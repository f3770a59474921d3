"""Benchmark: a year of 1m candles backtested by our engine, beside backtrader and backtesting.py.

One seeded GBM price path, 525,600 1-minute candles. Ours: each built-in kind with its default
parameters (DCA with the capital to buy on every candle), and a user strategy (an SMA crossover
written as a user would, through `decide()`), each timed on a series loaded once (the arrays a
sweep chunk reuses), median of `--repeat`. Rates are candles per CPU second of the process
(per core: the machine is shared; wall-clock rates are given beside them). Anchors: backtrader
and backtesting.py running the same SMA crossover rule (buy when SMA(10) - SMA(30) goes from
<= 0 to > 0 at a close, fill at that close; sell all on the way down) on the same candles; the
trade counts are printed side by side. The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("DEBUG", "1")  # the engine is pure: settings only, no database

import django

django.setup()

from bench._backtest_anchors import backtesting_py_trades, backtrader_trades  # noqa: E402
from bench._backtest_user import register_user_sma  # noqa: E402
from strategies.backtesting.candles import Candles, candles_from_rows  # noqa: E402
from strategies.backtesting.engine import BacktestSpec, backtest_run  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
CANDLES = 525_600


def gbm_rows(count: int, *, seed: int = 20250101) -> list[tuple]:
    """Candles of a GBM path (about 80% a year of volatility), prices to 6 places."""
    rng = np.random.default_rng(seed)
    closes = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0011, count)))
    opens = np.concatenate(([30_000.0], closes[:-1]))
    wiggle = np.abs(rng.normal(0, 0.0004, count)) * closes
    rows = []
    for i in range(count):
        o, c = round(float(opens[i]), 6), round(float(closes[i]), 6)
        high, low = round(max(o, c) + float(wiggle[i]), 6), round(min(o, c) - float(wiggle[i]), 6)
        prices = (Decimal(f"{v:.6f}") for v in (o, high, low, c))
        rows.append((START + timedelta(minutes=i), *prices, Decimal(1)))
    return rows


def spec(kind: str, count: int, **changes: object) -> BacktestSpec:
    end = START + timedelta(minutes=count + 1)
    return BacktestSpec(kind, {}, "1m", START + timedelta(minutes=1), end, **changes)


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of `repeat` runs, and the last run's result. CPU time is the
    per-core figure: on a shared machine wall time also counts the other processes' turns."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def ours(candles: Candles, count: int, repeat: int) -> tuple[dict[str, float], int]:
    """Candles per second of each kind; the SMA crossover's closed trades."""
    figures: dict[str, float] = {}
    kinds = {
        "sma_crossover": spec("sma_crossover", count),
        "rsi_thresholds": spec("rsi_thresholds", count),
        "dca": spec("dca", count, capital=Decimal(100_000_000)),  # a fill on every candle
        "user_sma_decide": spec(register_user_sma(), count),
    }
    sma_trades = 0
    for name, replayed in kinds.items():
        wall, cpu, result = timed(lambda s=replayed: backtest_run(s, candles), repeat)
        figures[f"{name}_candles_per_s_per_core"] = round(count / cpu)
        figures[f"{name}_candles_per_s_wall"] = round(count / wall)
        figures[f"{name}_fills"] = len(result.fills)
        print(
            f"ours {name}: {count / cpu:,.0f} candles per CPU second, {len(result.fills):,} fills"
        )
        if name == "sma_crossover":
            sma_trades = result.figures["trades"]
    return figures, sma_trades


def anchors(rows: list[tuple], figures: dict, our_trades: int) -> None:
    """Each anchor's rate and closed trades, and our speed-ups over it, into `figures`."""
    count = len(rows)
    for name, anchor in {
        "backtrader": backtrader_trades,
        "backtesting_py": backtesting_py_trades,
    }.items():
        wall, cpu, trades = timed(lambda a=anchor: a(rows), 1)
        rate = round(count / cpu)
        figures[f"anchor_{name}_candles_per_s"], figures[f"anchor_{name}_trades"] = rate, trades
        figures[f"anchor_{name}_candles_per_s_wall"] = round(count / wall)
        print(f"{name}: {rate:,} candles per CPU second, {trades} trades (ours {our_trades})")
        for kind in ("sma_crossover", "user_sma_decide"):
            speedup = figures[f"{kind}_candles_per_s_per_core"] / rate
            figures[f"speedup_{kind}_over_{name}"] = round(speedup, 2)
    counts = {
        our_trades,
        figures["anchor_backtrader_trades"],
        figures["anchor_backtesting_py_trades"],
    }
    figures["trade_counts_agree"] = len(counts) == 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candles", type=int, default=CANDLES)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    started = time.perf_counter()
    rows = gbm_rows(options.candles)
    candles = candles_from_rows("1m", rows).warm()
    build_s = time.perf_counter() - started
    figures, our_trades = ours(candles, options.candles, options.repeat)
    anchors(rows, figures, our_trades)
    figures.update(
        sma_crossover_trades=our_trades,
        candles=options.candles,
        series_build_s=round(build_s, 2),
        load_average=[round(x, 2) for x in os.getloadavg()],
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
