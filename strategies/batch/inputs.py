"""A batch's reads: the series' candles once, every strategy's book in one query.

Each strategy then gets the same `selectors.RunInputs` a single run reads for itself: its
newest closed candles up to its tick (as many as it needs), the last price, today's orders
and its paper position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from marketdata.models import Candle
from strategies.engine import Bar
from strategies.execution import inputs_with_tick_candle
from strategies.models import Order, PaperPosition
from strategies.selectors import (
    POSITION_COLUMNS,
    REJECTED,
    RunInputs,
    day_start,
    newest_closed_open,
    price_newest,
)


@dataclass(frozen=True)
class SeriesData:
    """The newest closed candles of a series a decision at the tick sees, oldest first."""

    timeframe: str
    bars: list[Bar]


SERIES_SQL = (
    "SELECT open_time, open, high, low, close, volume FROM ("  # noqa: S608 - table name only
    f"SELECT open_time, open, high, low, close, volume FROM {Candle._meta.db_table} "
    "WHERE market_id = %s AND timeframe = %s AND is_closed AND open_time <= %s "
    "ORDER BY open_time DESC LIMIT %s) c ORDER BY open_time"
)


def series_read(*, market_id: int, timeframe: str, limit: int, tick: datetime) -> SeriesData:
    """The series' newest `limit` closed candles up to the one that closed at the tick (the
    candles `selectors.run_inputs` gives a single run), waiting for that one as a single run
    does (`execution.inputs_with_tick_candle`)."""
    newest = newest_closed_open(tick=tick, timeframe=timeframe)

    def read(_now: datetime) -> SeriesData:
        with connection.cursor() as cursor:
            cursor.execute(SERIES_SQL, [market_id, timeframe, newest, limit])
            return SeriesData(timeframe, [Bar(*row) for row in cursor.fetchall()])

    return inputs_with_tick_candle(read, tick=tick, timeframe=timeframe)


BOOKS_SQL = (
    "SELECT s.id, (SELECT count(*) FROM "  # noqa: S608 - table names only
    f"{Order._meta.db_table} o WHERE o.strategy_id = s.id AND o.created_at >= %s "
    f"AND o.status <> %s), p.id, {', '.join(f'p.{column}' for column in POSITION_COLUMNS)} "
    "FROM unnest(%s::bigint[]) AS s(id) "
    f"LEFT JOIN {PaperPosition._meta.db_table} p ON p.strategy_id = s.id"
)


def strategies_books(
    *, strategy_ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, PaperPosition]]:
    """Each strategy's orders placed today (rejected ones not counted) and its paper position
    (unsaved, with defaults, if it has none), in one query."""
    if not strategy_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(BOOKS_SQL, [day_start(now), REJECTED, list(strategy_ids)])
        rows = cursor.fetchall()
    books = {}
    for strategy_id, orders_today, position_id, *columns in rows:
        position = PaperPosition(strategy_id=strategy_id)
        if position_id is not None:
            position = PaperPosition.from_db(
                connection.alias,
                ["id", "strategy_id", *POSITION_COLUMNS],
                [position_id, strategy_id, *columns],
            )
        books[strategy_id] = (orders_today, position)
    return books


def run_inputs_of(
    series: SeriesData, *, needed: int, orders_today: int, position: PaperPosition
) -> RunInputs:
    """One strategy's inputs from the series read once, as `selectors.run_inputs` gives them:
    the price is the newest close (no candles, nothing else)."""
    bars = series.bars[-needed:]
    if not bars:
        return RunInputs([], None, 0, position)
    price = price_newest(newest=bars[-1], timeframe=series.timeframe, ticker=None)
    return RunInputs(bars, price, orders_today, position)
