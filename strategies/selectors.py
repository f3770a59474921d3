"""Reads of strategies: the inputs of a run (candles, the last price, orders, positions) and
what tasks and services share."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Case, F, Q, Sum, TextField, Value, When
from django.db.models.functions import Cast, Concat

from marketdata.models import TIMEFRAME_DURATIONS, BalanceSnapshot, Candle, Ticker
from strategies import candle_rules
from strategies.engine import Bar
from strategies.job import crontab_text_expression, every_seconds_expression
from strategies.models import Order, PaperPosition, Strategy


def active_strategy_feeds() -> set[tuple[int, str]]:
    """The (market id, timeframe) pairs that active strategies read candles from."""
    return set(Strategy.objects.filter(is_active=True).values_list("market_id", "timeframe"))


def job_description() -> Concat:
    """The description of a strategy's job, as a database expression: the services and the
    set-based reconcile both write it from this one rule, so it follows renames and re-timings.

    `Strategy 12 'BTC DCA': dca on bitstamp BTC/USDT 1m, paper, every 60s, owner alice`.
    """
    return Concat(
        Value("Strategy "),
        Cast(F("id"), TextField()),
        Value(" '"),
        F("name"),
        Value("': "),
        F("kind"),
        Value(" on "),
        F("market__exchange__name"),
        Value(" "),
        F("market__symbol"),
        Value(" "),
        F("timeframe"),
        Value(", "),
        F("mode"),
        Value(", "),
        _schedule_text(),
        Value(", owner "),
        F("owner__username"),
        output_field=TextField(),
    )


def _schedule_text() -> Case:
    """When the job runs, worded as `Trigger.describe()`: `every 60s`, `cron 30 2 * * * (UTC)`."""
    every = every_seconds_expression()
    cron = crontab_text_expression()
    text = TextField()
    return Case(
        When(
            crontab="",
            then=Concat(Value("every "), Cast(every, text), Value("s"), output_field=text),
        ),
        default=Concat(
            Value("cron "), cron, Value(" ("), F("crontab_timezone"), Value(")"), output_field=text
        ),
        output_field=text,
    )


def strategy_job_description(*, strategy_id: int) -> str:
    """The description its job should carry, from the strategy as saved now."""
    found = (
        Strategy.objects.filter(pk=strategy_id)
        .annotate(description=job_description())
        .values_list("description", flat=True)
        .first()
    )
    return found or ""


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


LAST_PRICES_SQL = f"""
SELECT f.market_id, f.timeframe, t.time, t.last,
       c.open_time, c.open, c.high, c.low, c.close, c.volume
  FROM unnest(%s::integer[], %s::text[]) AS f(market_id, timeframe)
  LEFT JOIN LATERAL (SELECT open_time, open, high, low, close, volume
                       FROM {Candle._meta.db_table}
                      WHERE market_id = f.market_id AND timeframe = f.timeframe AND is_closed
                      ORDER BY open_time DESC LIMIT 1) AS c ON true
  LEFT JOIN LATERAL (SELECT time, last FROM {Ticker._meta.db_table}
                      WHERE market_id = f.market_id ORDER BY time DESC LIMIT 1) AS t ON true
"""  # noqa: S608 - table names only


def last_prices(*, feeds: Collection[tuple[int, str]]) -> dict[tuple[int, str], Price]:
    """`last_price` of many (market id, timeframe) feeds in one query, an index probe each."""
    if not feeds:
        return {}
    markets, timeframes = zip(*feeds, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(LAST_PRICES_SQL, [list(markets), list(timeframes)])
        rows = cursor.fetchall()
    prices = {}
    for market_id, timeframe, ticker_time, ticker_last, *candle in rows:
        newest = Bar(*candle) if candle[0] is not None else None
        price = price_newest(newest=newest, timeframe=timeframe, ticker=(ticker_time, ticker_last))
        if price is not None:
            prices[market_id, timeframe] = price
    return prices


def strategies_fills(
    *, strategy_ids: Collection[int]
) -> dict[int, list[tuple[datetime, str, Decimal, Decimal, Decimal]]]:
    """What each strategy's orders traded, oldest first: (time, side, filled amount, average
    price, fee), in one query."""
    rows = (
        Order.objects.filter(strategy_id__in=list(strategy_ids), filled_amount__gt=0)
        .filter(~Q(average_price=None))
        .order_by("strategy_id", "created_at", "id")
        .values_list("strategy_id", "created_at", "side", "filled_amount", "average_price", "fee")
    )
    fills: dict[int, list[tuple[datetime, str, Decimal, Decimal, Decimal]]] = {}
    for strategy_id, *fill in rows:
        fills.setdefault(strategy_id, []).append(tuple(fill))  # type: ignore[arg-type]
    return fills


def paper_quote_balances(*, strategy_ids: Collection[int]) -> dict[int, Decimal]:
    """Each paper position's quote balance now, in one query."""
    positions = PaperPosition.objects.filter(strategy_id__in=list(strategy_ids))
    return dict(positions.values_list("strategy_id", "quote_balance"))


@dataclass(frozen=True)
class Holding:
    """An asset's total on an account at its latest balance sync."""

    total: Decimal
    taken_at: datetime


LATEST_BALANCES_SQL = f"""
SELECT w.account_id, w.asset, b.total, b.taken_at
  FROM unnest(%s::integer[], %s::text[]) AS w(account_id, asset)
  JOIN LATERAL (SELECT total, taken_at FROM {BalanceSnapshot._meta.db_table}
                 WHERE account_id = w.account_id AND asset = w.asset
                 ORDER BY taken_at DESC LIMIT 1) AS b ON true
"""  # noqa: S608 - table names only


def latest_holdings(*, wanted: Collection[tuple[int, str]]) -> dict[tuple[int, str], Holding]:
    """The latest synced total of each (account id, asset), in one query, an index probe each."""
    if not wanted:
        return {}
    accounts, assets = zip(*wanted, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(LATEST_BALANCES_SQL, [list(accounts), list(assets)])
        return {(account, asset): Holding(total, at) for account, asset, total, at in cursor}


@dataclass(frozen=True)
class RunInputs:
    """What one run decides and sizes with, read in one statement."""

    bars: list[Bar]  # the newest candles closed by the run's tick, oldest first
    price: Price | None  # the newest of those bars' close: what the run sizes and fills at
    orders_today: int  # orders placed since midnight UTC, rejected ones not counted
    paper_position: PaperPosition  # the strategy's (unsaved, with defaults, if it has none)


def newest_closed_open(*, tick: datetime, timeframe: str) -> datetime:
    """The open time of the newest candle a decision at `tick` sees: the one that closed at or
    before the tick (the one closing at the tick itself included; the forming one never).

    `candle_rules.newest_closed_open`, which the backtester calls too.
    """
    seconds = TIMEFRAME_DURATIONS[timeframe].total_seconds()
    return datetime.fromtimestamp(candle_rules.newest_closed_open(tick.timestamp(), seconds), UTC)


def run_inputs(
    *, strategy: Strategy, candles_required: int, tick: datetime, now: datetime
) -> RunInputs:
    """The inputs of the run of `strategy` at `tick`: no candles means nothing else is read."""
    market_id, timeframe = strategy.market_id, strategy.timeframe
    newest = newest_closed_open(tick=tick, timeframe=timeframe)
    parameters = [strategy.pk, day_start(now), REJECTED]
    parameters += [market_id, timeframe, newest, candles_required, strategy.pk]
    with connection.cursor() as cursor:
        cursor.execute(RUN_INPUTS_SQL, parameters)
        rows = cursor.fetchall()
    if not rows:
        return RunInputs([], None, 0, PaperPosition(strategy_id=strategy.pk))
    bars = [Bar(*row[:6]) for row in rows]
    orders_today, position_id = rows[0][6:8]
    position = PaperPosition(strategy_id=strategy.pk)
    if position_id is not None:
        position = PaperPosition.from_db(
            connection.alias,
            ["id", "strategy_id", *POSITION_COLUMNS],
            [position_id, strategy.pk, *rows[0][8:]],
        )
    price = price_newest(newest=bars[-1], timeframe=timeframe, ticker=None)
    return RunInputs(bars, price, orders_today, position)


REJECTED = Order.Status.REJECTED.value
POSITION_COLUMNS = (
    "base_amount",
    "quote_balance",
    "average_entry_price",
    "fees_paid",
    "updated_at",
)
RUN_INPUTS_SQL = (
    "SELECT c.open_time, c.open, c.high, c.low, c.close, c.volume, "  # noqa: S608
    f"(SELECT count(*) FROM {Order._meta.db_table} WHERE strategy_id = %s AND created_at >= %s "
    "AND status <> %s), "
    f"p.id, {', '.join(f'p.{column}' for column in POSITION_COLUMNS)} "
    "FROM (SELECT open_time, open, high, low, close, volume "
    f"FROM {Candle._meta.db_table} WHERE market_id = %s AND timeframe = %s AND is_closed "
    "AND open_time <= %s ORDER BY open_time DESC LIMIT %s) c "
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
