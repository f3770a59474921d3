"""Reads of strategies: the inputs of a run (candles, the last price, orders, positions) and
what tasks and services share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Q, Sum

from marketdata.models import TIMEFRAME_DURATIONS, Candle, Ticker
from strategies.engine import Bar
from strategies.models import Order, PaperPosition, Strategy


def active_strategy_feeds() -> set[tuple[int, str]]:
    """The (market id, timeframe) pairs that active strategies read candles from."""
    return set(Strategy.objects.filter(is_active=True).values_list("market_id", "timeframe"))


def closed_bars(*, market_id: int, timeframe: str, limit: int) -> list[Bar]:
    """The newest `limit` closed candles of a market and timeframe, oldest first."""
    rows = (
        Candle.objects.filter(market_id=market_id, timeframe=timeframe, is_closed=True)
        .order_by("-open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")[:limit]
    )
    return [Bar(*row) for row in reversed(rows)]


@dataclass(frozen=True)
class Price:
    value: Decimal
    at: datetime
    source: str


def last_price(*, market_id: int, timeframe: str, newest: Bar | None = None) -> Price | None:
    """The most recent price known: the newest ticker or the newest closed candle's close.

    `newest`, when the caller has just read it, is the newest closed candle (saves a query).
    """
    candidates: list[Price] = []
    if newest is None:
        newest = next(iter(closed_bars(market_id=market_id, timeframe=timeframe, limit=1)), None)
    if newest is not None:
        closed_at = newest.open_time + TIMEFRAME_DURATIONS[timeframe]
        candidates.append(Price(newest.close, closed_at, "candle"))
    ticker = (
        Ticker.objects.filter(market_id=market_id)
        .order_by("-time")
        .values_list("time", "last")
        .first()
    )
    if ticker is not None:
        candidates.append(Price(ticker[1], ticker[0], "ticker"))
    return max(candidates, key=lambda price: price.at, default=None)


def orders_since(*, strategy_id: int, since: datetime) -> int:
    """Orders a strategy placed (or is placing) since `since`; rejected ones do not count."""
    return (
        Order.objects.filter(strategy_id=strategy_id, created_at__gte=since)
        .exclude(status=Order.Status.REJECTED)
        .count()
    )


def strategy_position(*, strategy: Strategy) -> Decimal:
    """How much of the base asset the strategy holds: its paper position, or its live fills."""
    if strategy.mode == Strategy.Mode.PAPER:
        held = (
            PaperPosition.objects.filter(strategy_id=strategy.pk)
            .values_list("base_amount", flat=True)
            .first()
        )
        return held if held is not None else Decimal(0)
    totals = Order.objects.filter(strategy_id=strategy.pk, mode=Strategy.Mode.LIVE).aggregate(
        bought=Sum("filled_amount", filter=Q(side=Order.Side.BUY)),
        sold=Sum("filled_amount", filter=Q(side=Order.Side.SELL)),
    )
    return (totals["bought"] or Decimal(0)) - (totals["sold"] or Decimal(0))


def day_start(moment: datetime) -> datetime:
    """Midnight (UTC) of the day `moment` is in: orders per day count from there."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
