"""Reads of market data that services, tasks, strategies and the API share: feeds, candles,
balances."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

from marketdata.models import (
    TIMEFRAME_DURATIONS,
    BalanceSnapshot,
    Candle,
    Exchange,
    ExchangeAccount,
    Market,
    Watchlist,
)


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


# Per series: its last closed candle and its first hole since the horizon (the table name is
# ours, the values are parameters).
FETCH_STARTS_SQL = f"""
            SELECT feed.market_id, feed.timeframe, found.last_closed, found.first_hole
            FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::interval[])
                AS feed(market_id, timeframe, horizon, step)
            CROSS JOIN LATERAL (
                SELECT max(open_time) AS last_closed,
                       min(open_time) FILTER (WHERE next_time - open_time > feed.step)
                           AS first_hole
                FROM (
                    SELECT open_time, lead(open_time) OVER (ORDER BY open_time) AS next_time
                    FROM {Candle._meta.db_table}
                    WHERE market_id = feed.market_id AND timeframe = feed.timeframe
                        AND is_closed AND open_time >= feed.horizon
                ) series
            ) found
            """  # noqa: S608


def candle_fetch_starts(
    *, horizons: Mapping[tuple[int, str], datetime]
) -> dict[tuple[int, str], datetime]:
    """Where the next fetch of each (market id, timeframe) series starts, in one query: just
    after its last closed candle (so the forming one is re-read), or at its first hole within
    its horizon start, or at the horizon start when it has no closed candle there yet."""
    if not horizons:
        return {}
    keys = list(horizons)
    with connection.cursor() as cursor:
        cursor.execute(
            FETCH_STARTS_SQL,
            [
                [market_id for market_id, _ in keys],
                [timeframe for _, timeframe in keys],
                [horizons[key] for key in keys],
                [TIMEFRAME_DURATIONS[timeframe] for _, timeframe in keys],
            ],
        )
        found = {(m, tf): (last, hole) for m, tf, last, hole in cursor.fetchall()}
    starts = {}
    for key, horizon in horizons.items():
        last_closed, hole = found[key]
        step = TIMEFRAME_DURATIONS[key[1]]
        starts[key] = horizon if last_closed is None else (hole or last_closed) + step
    return starts


def balances_latest(*, accounts: QuerySet[ExchangeAccount]) -> QuerySet[BalanceSnapshot]:
    """The newest snapshot of each asset of each account (PostgreSQL DISTINCT ON)."""
    return (
        BalanceSnapshot.objects.filter(account__in=accounts)
        .select_related("account")
        .order_by("account_id", "asset", "-taken_at")
        .distinct("account_id", "asset")
    )


def balances_history(
    *,
    accounts: QuerySet[ExchangeAccount],
    asset: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[BalanceSnapshot]:
    snapshots = BalanceSnapshot.objects.filter(account__in=accounts).select_related("account")
    if asset:
        snapshots = snapshots.filter(asset=asset)
    if start is not None:
        snapshots = snapshots.filter(taken_at__gte=start)
    if end is not None:
        snapshots = snapshots.filter(taken_at__lt=end)
    return snapshots


def watchlist_feeds() -> set[tuple[int, str]]:
    """The (market id, timeframe) pairs of the enabled watchlist."""
    return set(Watchlist.objects.filter(enabled=True).values_list("market_id", "timeframe"))


class MarketNotFound(ValueError):
    """No market answers to the text a user wrote; the message says how to write one."""


def market_by_label(*, label: str, markets: QuerySet[Market] | None = None) -> Market:
    """The market written as `exchange:SYMBOL` (as the admin and the API show it: `demo:BTC/USD`,
    letter case free) or as its id, among `markets` (all markets by default)."""
    candidates = (Market.objects.all() if markets is None else markets).select_related("exchange")
    text = str(label).strip()
    exchange, sep, symbol = text.partition(":")
    if text.isdigit():
        found = candidates.filter(pk=int(text)).first()
    elif sep and exchange.strip() and symbol.strip():
        found = candidates.filter(
            exchange__name__iexact=exchange.strip(), symbol__iexact=symbol.strip()
        ).first()
    else:
        raise MarketNotFound(
            f"write the market as exchange:SYMBOL, e.g. demo:BTC/USD (got {text!r})"
        )
    if found is None:
        raise MarketNotFound(f"no such market here: {text!r}")
    return found


def market_labels_matching(*, text: str, limit: int = 20) -> list[str]:
    """Active markets' `exchange:SYMBOL` labels that start like `text`, for autocomplete."""
    exchange, sep, symbol = text.strip().partition(":")
    markets = Market.objects.filter(active=True).select_related("exchange")
    if sep:
        markets = markets.filter(exchange__name__iexact=exchange, symbol__istartswith=symbol)
    elif text.strip():
        markets = markets.filter(
            Q(exchange__name__istartswith=exchange) | Q(symbol__istartswith=exchange)
        )
    return [str(market) for market in markets.order_by("exchange__name", "symbol")[:limit]]
