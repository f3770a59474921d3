"""Reads of market data that services, tasks and strategies share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Max

from marketdata.models import TIMEFRAME_DURATIONS, Candle, Exchange, Market, Watchlist


def collection_feeds(
    *, extra: Iterable[tuple[int, str]] = ()
) -> dict[Exchange, list[tuple[Market, str]]]:
    """The (market, timeframe) pairs to collect, per enabled exchange: the enabled watchlist
    plus `extra` (e.g. the feeds of active strategies), active markets only."""
    wanted = set(
        Watchlist.objects.filter(enabled=True).values_list("market_id", "timeframe")
    ) | set(extra)
    markets = Market.objects.select_related("exchange").in_bulk(
        {market_id for market_id, _ in wanted}
    )
    feeds: dict[Exchange, list[tuple[Market, str]]] = defaultdict(list)
    for market_id, timeframe in sorted(wanted):
        market = markets.get(market_id)
        if market is not None and market.active and market.exchange.enabled:
            feeds[market.exchange].append((market, timeframe))
    return dict(feeds)


def candle_fetch_start(*, market_id: int, timeframe: str, horizon_start: datetime) -> datetime:
    """Where the next fetch of a series starts: just after the last closed candle (so the
    forming one is re-read), or at the first hole within the horizon, or at the horizon."""
    step = TIMEFRAME_DURATIONS[timeframe]
    closed = Candle.objects.filter(
        market_id=market_id, timeframe=timeframe, is_closed=True, open_time__gte=horizon_start
    )
    last_closed = closed.aggregate(last=Max("open_time"))["last"]
    if last_closed is None:
        return horizon_start
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT open_time FROM (
                SELECT open_time, lead(open_time) OVER (ORDER BY open_time) AS next_time
                FROM {Candle._meta.db_table}
                WHERE market_id = %s AND timeframe = %s AND is_closed AND open_time >= %s
            ) series
            WHERE next_time - open_time > %s
            ORDER BY open_time
            LIMIT 1
            """,  # noqa: S608 - the table name is ours, the values are parameters
            [market_id, timeframe, horizon_start, step],
        )
        hole = cursor.fetchone()
    return (hole[0] if hole else last_closed) + step


def recent_candles(
    *, market_id: int, timeframe: str, limit: int, closed_only: bool = True
) -> list[Candle]:
    """The newest `limit` candles of a series, oldest first."""
    candles = Candle.objects.filter(market_id=market_id, timeframe=timeframe)
    if closed_only:
        candles = candles.filter(is_closed=True)
    return list(reversed(candles.order_by("-open_time")[:limit]))
