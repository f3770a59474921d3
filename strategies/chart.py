"""What the strategy page draws: candles downsampled on the server, signals and fills marked.

A year of 1-minute candles is 525,600 rows; the browser gets at most `MAX_BUCKETS` bars,
each an OHLC-preserving merge (first open, highest high, lowest low, last close, summed
volume) of whole candles, computed in one SQL query.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from marketdata.models import TIMEFRAME_DURATIONS, Candle
from strategies.models import Order, Strategy, StrategyRun

MAX_BUCKETS = 1000
# Aggregates first (no per-row arrays), then each bucket's first open and last close by the
# candles' unique index: a year of 1-minute candles in well under the time of reading them.
BUCKET_SQL = """
WITH buckets AS (
    SELECT min(open_time) AS first_time, max(open_time) AS last_time,
           max(high) AS high, min(low) AS low, sum(volume) AS volume
    FROM {table}
    WHERE market_id = %(market)s AND timeframe = %(timeframe)s
      AND open_time >= %(since)s AND open_time <= %(until)s
    GROUP BY floor(extract(epoch FROM open_time) / %(width)s)
)
SELECT buckets.first_time, first.open, buckets.high, buckets.low, last.close, buckets.volume
FROM buckets
JOIN {table} AS first ON first.market_id = %(market)s AND first.timeframe = %(timeframe)s
    AND first.open_time = buckets.first_time
JOIN {table} AS last ON last.market_id = %(market)s AND last.timeframe = %(timeframe)s
    AND last.open_time = buckets.last_time
ORDER BY buckets.first_time
"""


@dataclass(frozen=True)
class ChartBar:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def bucket_width(*, span: timedelta, timeframe: str, buckets: int = MAX_BUCKETS) -> int:
    """Seconds per bar: a whole number of candles, so that `span` fits in `buckets` bars."""
    step = int(TIMEFRAME_DURATIONS[timeframe].total_seconds())
    candles = int(span.total_seconds()) // step + 1
    per_bucket = -(-candles // buckets)  # ceiling division
    return step * max(per_bucket, 1)


def candles_downsampled(
    *, market_id: int, timeframe: str, since: datetime, until: datetime
) -> list[ChartBar]:
    """The market's candles between `since` and `until`, merged to at most MAX_BUCKETS bars."""
    # Buckets are aligned on the epoch, so a span may touch one bucket more than it fills.
    width = bucket_width(span=until - since, timeframe=timeframe, buckets=MAX_BUCKETS - 1)
    params = {
        "width": width,
        "market": market_id,
        "timeframe": timeframe,
        "since": since,
        "until": until,
    }
    with connection.cursor() as cursor:
        cursor.execute(BUCKET_SQL.format(table=Candle._meta.db_table), params)
        rows = cursor.fetchall()
    return [ChartBar(*row) for row in rows]


def candle_range(*, market_id: int, timeframe: str) -> tuple[datetime, datetime] | None:
    """The open times of the first and last candle of a series, or None when it has none."""
    series = Candle.objects.filter(market_id=market_id, timeframe=timeframe)
    first = series.order_by("open_time").values_list("open_time", flat=True).first()
    last = series.order_by("-open_time").values_list("open_time", flat=True).first()
    return None if first is None or last is None else (first, last)


def strategy_chart(*, strategy: Strategy, since: datetime | None = None) -> dict[str, Any]:
    """Bars, signal markers and fill markers of a strategy, as JSON-ready lists."""
    bounds = candle_range(market_id=strategy.market_id, timeframe=strategy.timeframe)
    if bounds is None:
        return {"bars": [], "signals": [], "fills": [], "bucket_seconds": 0}
    start = max(bounds[0], since) if since else bounds[0]
    bars = candles_downsampled(
        market_id=strategy.market_id, timeframe=strategy.timeframe, since=start, until=bounds[1]
    )
    times = [int(bar.time.timestamp()) for bar in bars]
    return {
        "bars": [_bar_json(bar) for bar in bars],
        "signals": _on_bars(_signals(strategy=strategy, since=start), times),
        "fills": _on_bars(_fills(strategy=strategy, since=start), times),
        "bucket_seconds": bucket_width(
            span=bounds[1] - start, timeframe=strategy.timeframe, buckets=MAX_BUCKETS - 1
        ),
    }


def _on_bars(markers: list[dict[str, Any]], times: list[int]) -> list[dict[str, Any]]:
    """Each marker on the bar its moment falls in (a chart marks bars, not moments)."""
    placed = []
    for marker in markers:
        index = bisect_right(times, marker["time"]) - 1
        if index >= 0:
            placed.append({**marker, "bar_time": times[index]})
    return placed


def _bar_json(bar: ChartBar) -> dict[str, Any]:
    return {
        "time": int(bar.time.timestamp()),
        "open": float(bar.open),
        "high": float(bar.high),
        "low": float(bar.low),
        "close": float(bar.close),
        "volume": float(bar.volume),
    }


def _signals(*, strategy: Strategy, since: datetime) -> list[dict[str, Any]]:
    """Buy and sell signals of the newest runs (at most MAX_BUCKETS: a marker per bar)."""
    runs = (
        StrategyRun.objects.filter(strategy=strategy, scheduled_tick__gte=since)
        .filter(signal__in=("buy", "sell"))
        .order_by("-scheduled_tick")
        .values_list("scheduled_tick", "signal")[:MAX_BUCKETS]
    )
    return [{"time": int(tick.timestamp()), "signal": signal} for tick, signal in reversed(runs)]


def _fills(*, strategy: Strategy, since: datetime) -> list[dict[str, Any]]:
    """Fills, each at the moment of the candle its price belongs to (see `_priced_at`)."""
    orders = (
        Order.objects.filter(strategy=strategy, created_at__gte=since, filled_amount__gt=0)
        .order_by("-created_at")
        .values_list(
            "created_at", "run__scheduled_tick", "mode", "side", "filled_amount", "average_price"
        )[:MAX_BUCKETS]
    )
    step = TIMEFRAME_DURATIONS[strategy.timeframe]
    return [
        {
            "time": int(_priced_at(created, tick, mode, step).timestamp()),
            "filled_at": int(created.timestamp()),
            "side": side,
            "amount": float(amount),
            "price": float(price) if price is not None else None,
        }
        for created, tick, mode, side, amount, price in reversed(orders)
    ]


def _priced_at(created: datetime, tick: datetime, mode: str, step: timedelta) -> datetime:
    """A paper fill is priced at the close of the last candle closed at its run's tick, so it
    is drawn on that candle; a live fill on the candle of the moment the exchange filled it."""
    if mode != Strategy.Mode.PAPER:
        return created
    epoch = datetime.fromtimestamp(0, tick.tzinfo)
    return epoch + (tick - epoch) // step * step - step
