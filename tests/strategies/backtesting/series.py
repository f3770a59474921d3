"""Candle series for backtest tests: a seeded price path with flat stretches and ties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from marketdata.models import TIMEFRAME_DURATIONS
from strategies.backtesting.candles import Candles, candles_from_rows

START = datetime(2025, 1, 1, tzinfo=UTC)


def walk_closes(count: int, *, seed: int = 7) -> list[Decimal]:
    """Closes in cents: a random walk of a few ticks a step, flat for stretches, so equal
    closes, equal averages and RSI values exactly on a threshold all occur."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-3, 4, count)
    flat = rng.random(count) < 0.3
    steps[flat] = 0
    cents = 3_000_000 + np.cumsum(steps) * 50
    return [Decimal(int(c)).scaleb(-2) for c in np.maximum(cents, 100)]


def candles_of(closes: list[Decimal], *, timeframe: str = "1m", start: datetime = START) -> Candles:
    """Candles on the timeframe's grid from `start`, each opening at the previous close."""
    duration = TIMEFRAME_DURATIONS[timeframe]
    rows = []
    previous = closes[0] if closes else Decimal(1)
    for index, close in enumerate(closes):
        low, high = min(previous, close), max(previous, close)
        rows.append((start + duration * index, previous, high, low, close, Decimal(1)))
        previous = close
    return candles_from_rows(timeframe, rows)


def period_of(candles: Candles) -> tuple[datetime, datetime]:
    """From the first candle's close to the last one's: every tick that reads them."""
    duration = TIMEFRAME_DURATIONS[candles.timeframe]
    return candles.bars[0].open_time + duration, candles.bars[-1].open_time + duration * 2


ONE_YEAR_OF_MINUTES = 525_600
ONE_MINUTE = timedelta(minutes=1)
