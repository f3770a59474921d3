"""A batch's reads: the series' candles and ticker once, every strategy's book in one query.

Each strategy then gets the same `selectors.RunInputs` a single run reads for itself: its
newest closed candles (as many as it needs), the last price, today's orders and its paper
position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from marketdata.models import Ticker
from strategies.engine import Bar
from strategies.models import Order, PaperPosition
from strategies.selectors import (
    POSITION_COLUMNS,
    REJECTED,
    RunInputs,
    closed_bars,
    day_start,
    price_newest,
)


@dataclass(frozen=True)
class SeriesData:
    """The newest closed candles of a series (oldest first) and its market's newest ticker."""

    timeframe: str
    bars: list[Bar]
    ticker: tuple[datetime, Decimal] | None


def series_read(*, market_id: int, timeframe: str, limit: int) -> SeriesData:
    """The series' newest `limit` closed candles and its newest ticker (time, last)."""
    bars = closed_bars(market_id=market_id, timeframe=timeframe, limit=limit) if limit else []
    ticker = (
        Ticker.objects.filter(market_id=market_id)
        .order_by("-time")
        .values_list("time", "last")
        .first()
    )
    return SeriesData(timeframe, bars, ticker)


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
    """One strategy's inputs from the series read once: as `selectors.run_inputs` gives them
    (no candles, nothing else)."""
    bars = series.bars[-needed:]
    if not bars:
        return RunInputs([], None, 0, position)
    price = price_newest(newest=bars[-1], timeframe=series.timeframe, ticker=series.ticker)
    return RunInputs(bars, price, orders_today, position)
