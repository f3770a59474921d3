"""Reads of strategies: the inputs of a run (candles, the last price, orders, positions) and
what tasks and services share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
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


def last_price(*, market_id: int, timeframe: str) -> Price | None:
    """The most recent price known: the newest ticker or the newest closed candle's close."""
    newest = next(iter(closed_bars(market_id=market_id, timeframe=timeframe, limit=1)), None)
    ticker = (
        Ticker.objects.filter(market_id=market_id)
        .order_by("-time")
        .values_list("time", "last")
        .first()
    )
    return price_newest(newest=newest, timeframe=timeframe, ticker=ticker)


def price_newest(
    *, newest: Bar | None, timeframe: str, ticker: tuple[datetime, Decimal] | None
) -> Price | None:
    """The newer of the newest closed candle's close and the newest ticker (time, last)."""
    candidates: list[Price] = []
    if newest is not None:
        closed_at = newest.open_time + TIMEFRAME_DURATIONS[timeframe]
        candidates.append(Price(newest.close, closed_at, "candle"))
    if ticker is not None and ticker[0] is not None:
        candidates.append(Price(ticker[1], ticker[0], "ticker"))
    return max(candidates, key=lambda price: price.at, default=None)


@dataclass(frozen=True)
class RunInputs:
    """What one run decides and sizes with, read in one statement."""

    bars: list[Bar]  # the newest closed candles, oldest first
    price: Price | None  # the last price: the newer of the newest close and the newest ticker
    orders_today: int  # orders placed since midnight UTC, rejected ones not counted
    paper_position: PaperPosition  # the strategy's (unsaved, with defaults, if it has none)


def run_inputs(*, strategy: Strategy, candles_required: int, now: datetime) -> RunInputs:
    """The inputs of one run of `strategy`: no candles means nothing else is read."""
    market_id = strategy.market_id
    parameters = [market_id, market_id, strategy.pk, day_start(now), REJECTED]
    parameters += [market_id, strategy.timeframe, candles_required, strategy.pk]
    with connection.cursor() as cursor:
        cursor.execute(RUN_INPUTS_SQL, parameters)
        rows = cursor.fetchall()
    if not rows:
        return RunInputs([], None, 0, PaperPosition(strategy_id=strategy.pk))
    bars = [Bar(*row[:6]) for row in rows]
    ticker_time, ticker_last, orders_today, position_id = rows[0][6:10]
    position = PaperPosition(strategy_id=strategy.pk)
    if position_id is not None:
        position = PaperPosition.from_db(
            connection.alias,
            ["id", "strategy_id", *POSITION_COLUMNS],
            [position_id, strategy.pk, *rows[0][10:]],
        )
    price = price_newest(
        newest=bars[-1], timeframe=strategy.timeframe, ticker=(ticker_time, ticker_last)
    )
    return RunInputs(bars, price, orders_today, position)


REJECTED = Order.Status.REJECTED.value
POSITION_COLUMNS = (
    "base_amount",
    "quote_balance",
    "average_entry_price",
    "fees_paid",
    "updated_at",
)
_TICKER = f"FROM {Ticker._meta.db_table} WHERE market_id = %s ORDER BY time DESC LIMIT 1"
RUN_INPUTS_SQL = (
    "SELECT c.open_time, c.open, c.high, c.low, c.close, c.volume, "  # noqa: S608
    f"(SELECT time {_TICKER}), (SELECT last {_TICKER}), "
    f"(SELECT count(*) FROM {Order._meta.db_table} WHERE strategy_id = %s AND created_at >= %s "
    "AND status <> %s), "
    f"p.id, {', '.join(f'p.{column}' for column in POSITION_COLUMNS)} "
    "FROM (SELECT open_time, open, high, low, close, volume "
    f"FROM {Candle._meta.db_table} WHERE market_id = %s AND timeframe = %s AND is_closed "
    "ORDER BY open_time DESC LIMIT %s) c "
    f"LEFT JOIN {PaperPosition._meta.db_table} p ON p.strategy_id = %s "
    "ORDER BY c.open_time"
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
