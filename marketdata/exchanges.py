"""The one gateway to exchanges: the only module that imports ccxt.

It builds sync and async ccxt clients for an `Exchange` row through one factory (applying the
`api_url` override and a rate limit shared by every process through Redis), translates ccxt's
errors into ours, retries temporary failures with backoff and jitter, validates every response
and returns frozen dataclasses. Nothing here writes to the database.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import redis
from django.conf import settings

from marketdata.models import TIMEFRAME_DURATIONS, Exchange, ExchangeAccount, Market

logger = logging.getLogger(__name__)
T = TypeVar("T")


# --- Errors -------------------------------------------------------------------------------
class ExchangeError(Exception):
    """An exchange call failed; permanent (do not retry) unless a subclass says otherwise."""


class TemporaryExchangeError(ExchangeError):
    """Network trouble, a timeout, maintenance, 429 or DDoS protection: worth retrying later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(ExchangeError):
    """The exchange refused the account's API key, secret or permissions."""


class InsufficientFunds(ExchangeError):
    """The account lacks the balance the order needs."""


class InvalidOrder(ExchangeError):
    """The exchange refused the order as given (size, price, duplicate client order id)."""


class OrderNotFound(ExchangeError):
    """The exchange knows no such order."""


class BadExchangeData(ExchangeError):
    """A response was malformed (not JSON, missing, non-finite or negative values, bad order)."""


# --- What comes back ----------------------------------------------------------------------
@dataclass(frozen=True)
class OrderResult:
    exchange_order_id: str
    client_order_id: str
    status: str  # "open" | "filled" | "canceled"
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    fee: Decimal


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class MarketInfo:
    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    active: bool
    precision: dict[str, Any]
    limits: dict[str, Any]


@dataclass(frozen=True)
class CandleData:
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    is_closed: bool


@dataclass(frozen=True)
class TickerData:
    symbol: str
    time: datetime
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    high: Decimal | None
    low: Decimal | None
    volume: Decimal | None


@dataclass(frozen=True)
class ExchangeConfig:
    """What a client needs from an `Exchange` row, read before any async code runs."""

    name: str
    ccxt_id: str
    api_url: str
    markets: tuple[MarketInfo, ...] = ()

    @classmethod
    def of(cls, exchange: Exchange, *, with_markets: bool = True) -> ExchangeConfig:
        markets = tuple(market_info(m) for m in exchange.markets.all()) if with_markets else ()
        return cls(exchange.name, exchange.ccxt_id, exchange.api_url, markets)


def market_info(market: Market) -> MarketInfo:
    return MarketInfo(
        market.symbol,
        market.exchange_symbol,
        market.base,
        market.quote,
        market.active,
        market.precision,
        market.limits,
    )


# --- The shared rate limit ----------------------------------------------------------------
# Reserves the next free slot for one exchange atomically, on Redis's clock: every process
# sleeps until its own slot, so all of them together keep the exchange's spacing.
RESERVE_SLOT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local next_us = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(next_us, now_us)
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[1])), 'PX', ARGV[2])
return start - now_us
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def rate_limit_interval_ms(exchange_name: str, ccxt_default: float) -> float:
    """Milliseconds between requests: EXCHANGE_RATE_LIMITS[name], else ccxt's `rateLimit`."""
    return float(settings.EXCHANGE_RATE_LIMITS.get(exchange_name, ccxt_default))


def reserve_request_slot(exchange_name: str, interval_ms: float, cost: float = 1) -> float:
    """Seconds to wait before this process may send its next request to the exchange."""
    interval_us = int(interval_ms * 1000 * (cost or 1))
    if interval_us <= 0:
        return 0.0
    try:
        wait_us = _redis().eval(
            RESERVE_SLOT, 1, f"tickwork:ratelimit:{exchange_name}", interval_us, 60_000
        )
    except redis.RedisError as error:
        # Without Redis, keep this process's own spacing rather than stop collecting.
        logger.warning("Shared rate limit unavailable (%s); spacing locally", error)
        return interval_us / 1_000_000
    return int(wait_us) / 1_000_000


# --- Clients ------------------------------------------------------------------------------
_last_response: contextvars.ContextVar[tuple[int, dict[str, str]] | None] = contextvars.ContextVar(
    "tickwork_last_response", default=None
)


def _checked_body(status: int, headers: Any, body: Any) -> None:
    """Remember status and headers for this call; reject a 2xx answer that is not JSON."""
    _last_response.set((int(status or 0), dict(headers or {})))
    if 200 <= int(status or 0) < 300 and isinstance(body, str) and body.strip():
        try:
            json.loads(body)
        except ValueError:
            raise BadExchangeData(f"the answer is not JSON: {body[:80]!r}") from None


class _SyncHooks:
    tickwork_name: str = ""

    def throttle(self, cost: float | None = None) -> None:
        interval = rate_limit_interval_ms(self.tickwork_name, self.rateLimit)  # type: ignore[attr-defined]
        delay = reserve_request_slot(self.tickwork_name, interval, cost or 1)
        if delay > 0:
            time.sleep(delay)

    def on_rest_response(self, code, reason, url, method, headers, body, *rest):  # type: ignore[no-untyped-def]
        _checked_body(code, headers, body)
        return body


class _AsyncHooks:
    tickwork_name: str = ""

    async def throttle(self, cost: float | None = None) -> None:
        interval = rate_limit_interval_ms(self.tickwork_name, self.rateLimit)  # type: ignore[attr-defined]
        delay = reserve_request_slot(self.tickwork_name, interval, cost or 1)
        if delay > 0:
            await asyncio.sleep(delay)

    def on_rest_response(self, code, reason, url, method, headers, body, *rest):  # type: ignore[no-untyped-def]
        _checked_body(code, headers, body)
        return body


@cache
def _client_class(ccxt_id: str, asynchronous: bool) -> type:
    module = ccxt_async if asynchronous else ccxt
    base = getattr(module, ccxt_id, None)
    if not isinstance(base, type):
        raise ExchangeError(f"ccxt knows no exchange {ccxt_id!r}")
    hooks = _AsyncHooks if asynchronous else _SyncHooks
    return type(f"Tickwork{base.__name__}", (hooks, base), {})


def build_client(
    config: ExchangeConfig, account: ExchangeAccount | None = None, *, asynchronous: bool = False
) -> Any:
    """A ccxt client for the exchange (and account), pointed at `api_url` when one is set.

    Markets known in the database are handed to ccxt so that it does not reload them on every
    call; the shared rate limit replaces ccxt's per-object one. Async clients must be closed:
    use `async_client()`.
    """
    options: dict[str, Any] = {"timeout": settings.EXCHANGE_TIMEOUT_MS, "enableRateLimit": True}
    if account is not None:
        options.update(apiKey=account.api_key, secret=account.api_secret)
        if account.api_passphrase:
            options["password"] = account.api_passphrase
    client = _client_class(config.ccxt_id, asynchronous)(options)
    client.tickwork_name = config.name
    if config.api_url:
        api = client.urls.get("api")
        url = config.api_url.rstrip("/")
        client.urls["api"] = {key: url for key in api} if isinstance(api, dict) else url
    if config.markets:
        client.set_markets([_ccxt_market(m) for m in config.markets])
    return client


def _ccxt_market(market: MarketInfo) -> dict[str, Any]:
    return {
        "id": market.exchange_symbol,
        "symbol": market.symbol,
        "base": market.base,
        "quote": market.quote,
        "baseId": market.base.lower(),
        "quoteId": market.quote.lower(),
        "active": market.active,
        "type": "spot",
        "spot": True,
        "precision": market.precision,
        "limits": market.limits,
    }


@asynccontextmanager
async def async_client(config: ExchangeConfig) -> AsyncIterator[AsyncExchangeSession]:
    """An async session on one exchange; its ccxt client is always closed on the way out."""
    client = build_client(config, asynchronous=True)
    # ccxt's own connector caps connections at 100; EXCHANGE_CONCURRENCY is the bound we mean.
    client.tcp_connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
    client.session = aiohttp.ClientSession(connector=client.tcp_connector)
    # aiohttp's connector.close() already waits until each connection has closed; ccxt's own
    # fixed pause after it (timeout_on_exit, 250 ms) would only delay every collection round.
    client.timeout_on_exit = 0
    try:
        yield AsyncExchangeSession(config, client)
    finally:
        await client.close()


@contextmanager
def _sync_client(account: ExchangeAccount) -> Any:
    config = ExchangeConfig.of(account.exchange)
    client = build_client(config, account)
    try:
        yield client
    finally:
        client.close()


# --- Errors and retries -------------------------------------------------------------------
def translate(error: Exception) -> ExchangeError:
    """Our error for a ccxt (or parsing) error; the message never includes credentials."""
    if isinstance(error, ExchangeError):
        return error
    message = f"{type(error).__name__}: {error}"[:500]
    status, headers = _last_response.get() or (0, {})
    if isinstance(error, ccxt.AuthenticationError):
        return AuthenticationFailed(message)
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFunds(message)
    if isinstance(error, ccxt.OrderNotFound):
        return OrderNotFound(message)
    if isinstance(error, ccxt.InvalidOrder):
        return InvalidOrder(message)
    if isinstance(error, ccxt.BadResponse):
        return BadExchangeData(message)
    if isinstance(error, ccxt.NetworkError):
        if status in (400, 404) and not isinstance(error, ccxt.RequestTimeout):
            # ccxt maps 400 and 404 to "not available"; a bad request does not heal by retrying.
            return ExchangeError(message)
        return TemporaryExchangeError(message, retry_after=_retry_after(headers))
    if isinstance(error, ccxt.BaseError):
        return ExchangeError(message)
    if isinstance(error, (TypeError, ValueError, KeyError, IndexError, InvalidOperation)):
        return BadExchangeData(message)
    raise error


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def retry_delay(attempt: int, error: TemporaryExchangeError) -> float | None:
    """Seconds before retry `attempt` (0-based), or None when the retries are used up or the
    exchange asks for a longer pause than a worker should sleep."""
    if attempt + 1 >= settings.EXCHANGE_RETRY_ATTEMPTS:
        return None
    cap = settings.EXCHANGE_RETRY_MAX_DELAY
    backoff = random.uniform(0, min(cap, settings.EXCHANGE_RETRY_BASE_DELAY * 2**attempt))  # noqa: S311
    if error.retry_after is not None:
        if error.retry_after > cap:
            return None
        return max(backoff, error.retry_after)
    return backoff


def call_with_retry(what: str, call: Callable[[], T]) -> T:
    for attempt in range(settings.EXCHANGE_RETRY_ATTEMPTS):
        _last_response.set(None)
        try:
            return call()
        except Exception as raw:
            error = translate(raw)
            delay = (
                retry_delay(attempt, error) if isinstance(error, TemporaryExchangeError) else None
            )
            if delay is None:
                _log_failure(what, error)
                raise error from raw
            logger.info("%s: %s; retrying in %.2fs", what, error, delay)
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def call_with_retry_async(what: str, call: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(settings.EXCHANGE_RETRY_ATTEMPTS):
        _last_response.set(None)
        try:
            return await call()
        except Exception as raw:
            error = translate(raw)
            delay = (
                retry_delay(attempt, error) if isinstance(error, TemporaryExchangeError) else None
            )
            if delay is None:
                _log_failure(what, error)
                raise error from raw
            logger.info("%s: %s; retrying in %.2fs", what, error, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _log_failure(what: str, error: ExchangeError) -> None:
    if isinstance(error, BadExchangeData):
        logger.warning("%s: rejected the exchange's answer, nothing stored: %s", what, error)
    else:
        logger.warning("%s failed: %s", what, error)


# --- Validation ---------------------------------------------------------------------------
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


def validate_candles(
    rows: Sequence[Sequence[Any]], timeframe: str, now: datetime
) -> list[CandleData]:
    """Candles from ccxt's OHLCV rows: each value present, finite and not negative, open times
    on the timeframe's grid and strictly increasing. The newest is still forming if its period
    has not ended by `now`."""
    step_ms = int(TIMEFRAME_DURATIONS[timeframe].total_seconds() * 1000)
    candles: list[CandleData] = []
    previous: int | None = None
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) < 6:
            raise BadExchangeData(f"candle row is malformed: {row!r}")
        ts = row[0]
        opened = _timestamp(ts, "candle")
        if int(ts) % step_ms:
            raise BadExchangeData(
                f"candle at {opened:%Y-%m-%d %H:%M:%S} is off the {timeframe} grid"
            )
        if previous is not None and ts <= previous:
            raise BadExchangeData(f"candles out of order at {opened:%Y-%m-%d %H:%M:%S}")
        previous = ts
        o, h, low, c, v = (
            number(x, f"candle {name}") for x, name in zip(row[1:6], "ohlcv", strict=True)
        )
        if h < low or h < max(o, c) or low > min(o, c):
            raise BadExchangeData(f"candle at {opened:%Y-%m-%d %H:%M} has high/low inconsistent")
        candles.append(CandleData(opened, o, h, low, c, v, True))
    if candles and candles[-1].open_time + TIMEFRAME_DURATIONS[timeframe] > now:
        last = candles[-1]
        candles[-1] = CandleData(
            last.open_time, last.open, last.high, last.low, last.close, last.volume, False
        )
    return candles


def validate_ticker(raw: dict[str, Any]) -> TickerData:
    if not isinstance(raw, dict) or not raw.get("symbol"):
        raise BadExchangeData(f"ticker is malformed: {raw!r}"[:200])
    what = f"ticker {raw['symbol']}"
    return TickerData(
        symbol=raw["symbol"],
        time=_timestamp(raw.get("timestamp"), what),
        last=number(raw.get("last"), f"{what} last"),
        bid=_number(raw.get("bid"), f"{what} bid", optional=True),
        ask=_number(raw.get("ask"), f"{what} ask", optional=True),
        high=_number(raw.get("high"), f"{what} high", optional=True),
        low=_number(raw.get("low"), f"{what} low", optional=True),
        volume=_number(raw.get("baseVolume"), f"{what} volume", optional=True),
    )


def validate_markets(raw: Iterable[dict[str, Any]]) -> list[MarketInfo]:
    markets = []
    for market in raw:
        if not all(market.get(k) for k in ("symbol", "id", "base", "quote")):
            raise BadExchangeData(f"market is malformed: {market!r}"[:200])
        markets.append(
            MarketInfo(
                symbol=market["symbol"],
                exchange_symbol=str(market["id"]),
                base=market["base"],
                quote=market["quote"],
                active=market.get("active") is not False,
                precision=_plain(market.get("precision") or {}),
                limits=_plain(market.get("limits") or {}),
            )
        )
    return markets


def _plain(value: Any) -> Any:
    """JSON-safe copy of a ccxt structure (drops non-finite floats)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


ORDER_STATUSES = {"open": "open", "closed": "filled", "canceled": "canceled", "canceling": "open"}


def validate_order(raw: dict[str, Any], client_order_id: str) -> OrderResult:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise BadExchangeData(f"order is malformed: {raw!r}"[:200])
    status = ORDER_STATUSES.get(raw.get("status") or "open")
    if status is None:
        raise BadExchangeData(f"order {raw['id']} has an unknown status {raw.get('status')!r}")
    amount = number(raw.get("amount"), "order amount")
    filled = _number(raw.get("filled"), "order filled", optional=True)
    if filled is None:
        remaining = _number(raw.get("remaining"), "order remaining", optional=True)
        filled = amount - remaining if remaining is not None else Decimal(0)
    fee = raw.get("fee") or {}
    fee_cost = _number(fee.get("cost"), "order fee", optional=True) or Decimal(0)
    return OrderResult(
        exchange_order_id=str(raw["id"]),
        client_order_id=raw.get("clientOrderId") or client_order_id,
        status=status,
        amount=amount,
        filled=filled,
        average_price=_number(raw.get("average"), "order average price", optional=True)
        if filled
        else None,
        fee=fee_cost,
    )


def validate_balances(raw: dict[str, Any]) -> list[Balance]:
    balances = []
    for asset, values in sorted(raw.items()):
        if asset in {"info", "timestamp", "datetime", "free", "used", "total", "debt"}:
            continue
        if not isinstance(values, dict):
            raise BadExchangeData(f"balance of {asset} is malformed")
        balances.append(
            Balance(
                asset=asset,
                free=number(values.get("free"), f"{asset} free"),
                used=number(values.get("used"), f"{asset} used"),
                total=number(values.get("total"), f"{asset} total"),
            )
        )
    return balances


# --- Synchronous calls (orders, balances, markets) ----------------------------------------
def load_markets(*, exchange: Exchange) -> list[MarketInfo]:
    """Every market the exchange lists now (retried when temporary)."""
    config = ExchangeConfig.of(exchange, with_markets=False)

    def call() -> list[MarketInfo]:
        client = build_client(config)
        try:
            return validate_markets(client.load_markets(reload=True).values())
        finally:
            client.close()

    return call_with_retry(f"{exchange.name} load_markets", call)


def create_order(
    *,
    account: ExchangeAccount,
    symbol: str,
    side: str,
    type: str,
    amount: Decimal,
    price: Decimal | None,
    client_order_id: str,
) -> OrderResult:
    """Send one order, once. A timeout raises TemporaryExchangeError without retrying: the
    order may exist, so the caller must look it up by `client_order_id` before sending again.
    After the exchange accepts it, its state (fills, fee) is read back when possible."""
    what = f"{account.exchange.name} create_order {client_order_id}"
    with _sync_client(account) as client:
        _last_response.set(None)
        try:
            raw = client.create_order(
                symbol,
                type,
                side,
                float(amount),
                float(price) if price is not None else None,
                {"client_order_id": client_order_id},
            )
            created = validate_order(raw, client_order_id)
        except Exception as error:
            ours = translate(error)
            _log_failure(what, ours)
            raise ours from error
        try:
            return call_with_retry(
                f"{what} read-back",
                lambda: validate_order(
                    client.fetch_order(created.exchange_order_id, symbol), client_order_id
                ),
            )
        except ExchangeError:
            return created


def fetch_order_by_client_id(
    *, account: ExchangeAccount, symbol: str, client_order_id: str
) -> OrderResult:
    """The order the exchange knows under our client order id; raises OrderNotFound."""
    with _sync_client(account) as client:
        raw = call_with_retry(
            f"{account.exchange.name} fetch_order {client_order_id}",
            lambda: client.fetch_order(None, symbol, {"client_order_id": client_order_id}),
        )
        return validate_order(raw, client_order_id)


def fetch_balances(*, account: ExchangeAccount) -> list[Balance]:
    """The account's balance per asset, as the exchange reports it now."""
    with _sync_client(account) as client:
        return call_with_retry(
            f"{account.exchange.name} fetch_balance",
            lambda: validate_balances(client.fetch_balance()),
        )


# --- Asynchronous collection --------------------------------------------------------------
@dataclass
class AsyncExchangeSession:
    """Market data calls on one exchange, each retried, validated and timed."""

    config: ExchangeConfig
    client: Any
    request_seconds: list[float] = field(default_factory=list)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async def timed() -> T:
            started = time.monotonic()
            try:
                return await call()
            finally:
                self.request_seconds.append(time.monotonic() - started)

        return await call_with_retry_async(f"{self.config.name} {what}", timed)

    async def fetch_candles(
        self, *, symbol: str, timeframe: str, since: datetime, page_limit: int, max_pages: int
    ) -> list[CandleData]:
        """Candles from `since` up to now, page by page; validated as one series."""
        step = TIMEFRAME_DURATIONS[timeframe]
        cursor = since
        rows: list[Any] = []
        for _ in range(max_pages):
            page = await self._call(
                f"fetch_ohlcv {symbol} {timeframe}",
                lambda c=cursor: self.client.fetch_ohlcv(
                    symbol, timeframe, since=int(c.timestamp() * 1000), limit=page_limit
                ),
            )
            rows.extend(page)
            cursor = cursor + step * page_limit
            if cursor > datetime.now(UTC):
                break
        try:
            return validate_candles(rows, timeframe, datetime.now(UTC))
        except BadExchangeData as error:
            _log_failure(f"{self.config.name} fetch_ohlcv {symbol} {timeframe}", error)
            raise

    async def fetch_tickers(self, symbols: Sequence[str]) -> dict[str, TickerData | ExchangeError]:
        """The tickers of `symbols`; a bad ticker is an error for its market only."""
        if self.client.has.get("fetchTickers"):
            raw = await self._call(
                "fetch_tickers", lambda: self.client.fetch_tickers(list(symbols))
            )
        else:
            answers = await asyncio.gather(
                *(
                    self._call(f"fetch_ticker {s}", lambda s=s: self.client.fetch_ticker(s))
                    for s in symbols
                ),
                return_exceptions=True,
            )
            raw = dict(zip(symbols, answers, strict=True))
        result: dict[str, TickerData | ExchangeError] = {}
        for symbol in symbols:
            answer = raw.get(symbol)
            if isinstance(answer, ExchangeError):
                result[symbol] = answer
                continue
            try:
                result[symbol] = (
                    validate_ticker(answer)
                    if answer
                    else BadExchangeData(f"no ticker for {symbol}")
                )
            except BadExchangeData as error:
                _log_failure(f"{self.config.name} ticker {symbol}", error)
                result[symbol] = error
        return result
