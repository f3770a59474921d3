"""Validation of what ccxt parsed: every normal answer passes, a broken one is refused whole."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from marketdata.exchanges.errors import BadExchangeData
from marketdata.exchanges.results import Balance, CandleData, MarketInfo, OrderResult, TickerData
from marketdata.models import TIMEFRAME_DURATIONS

ORDER_STATUSES = {"open": "open", "closed": "filled", "canceled": "canceled", "canceling": "open"}
BALANCE_SUMMARY_KEYS = {"info", "timestamp", "datetime", "free", "used", "total", "debt"}


def _number(value: Any, what: str, *, optional: bool = False) -> Decimal | None:
    if value is None:
        if optional:
            return None
        raise BadExchangeData(f"{what} is missing")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadExchangeData(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise BadExchangeData(f"{what} is not finite: {value!r}")
    if number < 0:
        raise BadExchangeData(f"{what} is negative: {value!r}")
    return number


def number(value: Any, what: str) -> Decimal:
    result = _number(value, what)
    assert result is not None
    return result


def _timestamp(value: Any, what: str) -> datetime:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BadExchangeData(f"{what} has no valid timestamp: {value!r}")
    return datetime.fromtimestamp(value / 1000, UTC)


def _not_future(moment: datetime, now: datetime, what: str) -> datetime:
    """`moment`, unless it lies further ahead of `now` than the clock skew we allow."""
    if moment > now + timedelta(seconds=settings.MARKETDATA_MAX_CLOCK_SKEW_SECONDS):
        raise BadExchangeData(f"{what} is from the future: {moment:%Y-%m-%d %H:%M:%S} UTC")
    return moment


def validate_candles(
    rows: Sequence[Sequence[Any]], timeframe: str, now: datetime
) -> list[CandleData]:
    """Candles from ccxt's OHLCV rows: each value present, finite and not negative, open times
    on the timeframe's grid, strictly increasing and not in the future. The newest is still
    forming if its period has not ended by `now`."""
    step = TIMEFRAME_DURATIONS[timeframe]
    candles: list[CandleData] = []
    previous: int | None = None
    for row in rows:
        candle = _candle(row, timeframe, int(step.total_seconds() * 1000), now)
        if previous is not None and row[0] <= previous:
            raise BadExchangeData(f"candles out of order at {candle.open_time:%Y-%m-%d %H:%M:%S}")
        previous = row[0]
        candles.append(candle)
    if candles and candles[-1].open_time + step > now:
        last = candles[-1]
        candles[-1] = CandleData(
            last.open_time, last.open, last.high, last.low, last.close, last.volume, False
        )
    return candles


def _candle(row: Any, timeframe: str, step_ms: int, now: datetime) -> CandleData:
    if not isinstance(row, list | tuple) or len(row) < 6:
        raise BadExchangeData(f"candle row is malformed: {row!r}"[:200])
    opened = _not_future(_timestamp(row[0], "candle"), now, "candle")
    if int(row[0]) % step_ms:
        raise BadExchangeData(f"candle at {opened:%Y-%m-%d %H:%M:%S} is off the {timeframe} grid")
    o, h, low, c, v = (
        number(x, f"candle {name}") for x, name in zip(row[1:6], "ohlcv", strict=True)
    )
    if h < low or h < max(o, c) or low > min(o, c):
        raise BadExchangeData(f"candle at {opened:%Y-%m-%d %H:%M} has high/low inconsistent")
    return CandleData(opened, o, h, low, c, v, True)


def validate_ticker(raw: dict[str, Any], received_at: datetime) -> TickerData:
    """A ticker; one without a timestamp (Kraken sends none) takes the time it was received."""
    if not isinstance(raw, dict) or not raw.get("symbol"):
        raise BadExchangeData(f"ticker is malformed: {raw!r}"[:200])
    what = f"ticker {raw['symbol']}"
    stamp = raw.get("timestamp")
    moment = received_at if stamp is None else _timestamp(stamp, what)
    return TickerData(
        symbol=raw["symbol"],
        time=_not_future(moment, received_at, what),
        last=number(raw.get("last"), f"{what} last"),
        bid=_number(raw.get("bid"), f"{what} bid", optional=True),
        ask=_number(raw.get("ask"), f"{what} ask", optional=True),
        high=_number(raw.get("high"), f"{what} high", optional=True),
        low=_number(raw.get("low"), f"{what} low", optional=True),
        volume=_number(raw.get("baseVolume"), f"{what} volume", optional=True),
    )


def validate_markets(raw: Iterable[dict[str, Any]], *, precision_mode: int) -> list[MarketInfo]:
    """The markets of one exchange, whose ccxt class counts precision in `precision_mode`."""
    return [_market(market, precision_mode) for market in raw]


def _market(market: dict[str, Any], precision_mode: int) -> MarketInfo:
    if not all(market.get(k) for k in ("symbol", "id", "base", "quote")):
        raise BadExchangeData(f"market is malformed: {market!r}"[:200])
    return MarketInfo(
        symbol=market["symbol"],
        exchange_symbol=str(market["id"]),
        base=market["base"],
        quote=market["quote"],
        active=market.get("active") is not False,
        precision=plain(market.get("precision") or {}),
        limits=plain(market.get("limits") or {}),
        precision_mode=int(precision_mode),
        raw=plain(market),
    )


def plain(value: Any) -> Any:
    """JSON-safe copy of a ccxt structure (non-finite floats become None)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def validate_order(
    raw: dict[str, Any], client_order_id: str, requested: Decimal | None = None
) -> OrderResult:
    """An order's state. A create answer may carry only the order's id (Coinbase, Kraken):
    its amount is then the `requested` one, its status open until read back."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise BadExchangeData(f"order is malformed: {raw!r}"[:200])
    status = ORDER_STATUSES.get(raw.get("status") or "open")
    if status is None:
        raise BadExchangeData(f"order {raw['id']} has an unknown status {raw.get('status')!r}")
    given = raw.get("amount")
    amount = number(requested if given is None else given, "order amount")
    filled = _number(raw.get("filled"), "order filled", optional=True)
    if filled is None:
        remaining = _number(raw.get("remaining"), "order remaining", optional=True)
        filled = amount - remaining if remaining is not None else Decimal(0)
    fee = raw.get("fee") or {}
    average = _number(raw.get("average"), "order average price", optional=True)
    return OrderResult(
        exchange_order_id=str(raw["id"]),
        # Ours, as we asked for it: some exchanges echo it in their own form (OKX).
        client_order_id=client_order_id,
        status=status,
        amount=amount,
        filled=filled,
        average_price=average if filled else None,
        fee=_number(fee.get("cost"), "order fee", optional=True) or Decimal(0),
    )


def validate_balances(raw: dict[str, Any]) -> list[Balance]:
    """Balances per asset. Where the exchange reports only some of free / used / total (ccxt
    leaves the rest None), the missing one is derived; an asset with none is refused."""
    balances = []
    for asset, values in sorted(raw.items()):
        if asset in BALANCE_SUMMARY_KEYS:
            continue
        if not isinstance(values, dict):
            raise BadExchangeData(f"balance of {asset} is malformed")
        balances.append(_balance(asset, values))
    return balances


def _balance(asset: str, values: dict[str, Any]) -> Balance:
    free = _number(values.get("free"), f"{asset} free", optional=True)
    used = _number(values.get("used"), f"{asset} used", optional=True)
    total = _number(values.get("total"), f"{asset} total", optional=True)
    if total is None and free is not None and used is not None:
        total = free + used
    if total is None:
        raise BadExchangeData(f"{asset} balance has no total")
    if free is None:
        free = total - used if used is not None else total
    if used is None:
        used = total - free
    return Balance(asset=asset, free=free, used=used, total=total)
