"""A candle series loaded once for many backtests: the bars `decide()` reads and their arrays."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from marketdata.models import TIMEFRAME_DURATIONS, Candle
from strategies.engine import Bar

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, eq=False)
class Candles:
    """Closed candles of one market and timeframe, oldest first, on the timeframe's grid.

    `bars` are what a live run hands `decide()` (prices as Decimal, as stored); the arrays
    (open times in Unix seconds, closes as floats) serve the tick grid, the fast signals and
    the equity curve. Build it once and run as many backtests on it as you like.
    """

    timeframe: str
    bars: Sequence[Bar]

    @functools.cached_property
    def duration_s(self) -> int:
        return int(TIMEFRAME_DURATIONS[self.timeframe].total_seconds())

    @functools.cached_property
    def open_s(self) -> np.ndarray:
        return np.asarray([bar.open_time.timestamp() for bar in self.bars]).astype(np.int64)

    @functools.cached_property
    def close_s(self) -> np.ndarray:
        """When each candle closed: from then on a live run reads it."""
        return self.open_s + self.duration_s

    @functools.cached_property
    def closes(self) -> np.ndarray:
        return np.asarray([float(bar.close) for bar in self.bars], dtype=np.float64)

    def warm(self) -> Candles:
        """Compute the arrays now (once per load), so that every run on it finds them."""
        self.close_s, self.closes  # noqa: B018 - cached on first read
        return self

    def __len__(self) -> int:
        return len(self.bars)


def candles_from_rows(
    timeframe: str, rows: Sequence[tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal]]
) -> Candles:
    """Candles from (open_time, open, high, low, close, volume) rows, oldest first."""
    return Candles(timeframe, [Bar(*row) for row in rows])


def candles_load(
    *, market_id: int, timeframe: str, start: datetime, end: datetime, warmup: int = 0
) -> Candles:
    """The stored closed candles that close in [start, end], plus `warmup` closed before
    `start` (what the first ticks need to decide), oldest first: one query each."""
    duration = TIMEFRAME_DURATIONS[timeframe]
    closed = Candle.objects.filter(market_id=market_id, timeframe=timeframe, is_closed=True)
    columns = ("open_time", "open", "high", "low", "close", "volume")
    before = (
        list(
            closed.filter(open_time__lt=start - duration)
            .order_by("-open_time")
            .values_list(*columns)[:warmup]
        )[::-1]
        if warmup
        else []
    )
    during = closed.filter(open_time__gte=start - duration, open_time__lte=end - duration)
    return candles_from_rows(
        timeframe, [*before, *during.order_by("open_time").values_list(*columns)]
    )
