"""Asynchronous market data calls for collection rounds: candles page by page, and tickers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.utils import timezone

from marketdata.exchanges.clients import async_ccxt_client
from marketdata.exchanges.errors import BadExchangeData, ExchangeError
from marketdata.exchanges.results import CandleData, ExchangeConfig, TickerData
from marketdata.exchanges.retries import call_with_retry_async, log_failure
from marketdata.exchanges.validation import validate_candles, validate_ticker
from marketdata.models import TIMEFRAME_DURATIONS

T = TypeVar("T")


@asynccontextmanager
async def async_client(config: ExchangeConfig) -> AsyncIterator[AsyncExchangeSession]:
    """An async session on one exchange; its ccxt client is always closed on the way out."""
    async with async_ccxt_client(config) as client:
        yield AsyncExchangeSession(config, client)


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
        self,
        *,
        symbol: str,
        timeframe: str,
        since: datetime,
        page_limit: int,
        max_pages: int,
        until: datetime | None = None,
    ) -> list[CandleData]:
        """Candles from `since` up to `until` (default: now), page by page; validated as one
        series.

        Each page keeps only the candles of its own window (`page_limit` candles from its
        cursor): Kraken answers everything after `since` and ignores the limit, so without the
        clip consecutive pages overlap and the series is refused as out of order.
        """
        step = TIMEFRAME_DURATIONS[timeframe]
        stop = min(until or datetime.now(UTC), datetime.now(UTC))
        cursor = since
        rows: list[Any] = []
        for _ in range(max_pages):
            page = await self._call(
                f"fetch_ohlcv {symbol} {timeframe}",
                lambda c=cursor: self.client.fetch_ohlcv(
                    symbol, timeframe, since=int(c.timestamp() * 1000), limit=page_limit
                ),
            )
            window_end = cursor + step * page_limit
            rows.extend(page_clipped(page, start=cursor, end=window_end))
            cursor = window_end
            if cursor > stop:
                break
        try:
            return validate_candles(rows, timeframe, datetime.now(UTC))
        except BadExchangeData as error:
            log_failure(f"{self.config.name} fetch_ohlcv {symbol} {timeframe}", error)
            raise

    async def fetch_tickers(self, symbols: Sequence[str]) -> dict[str, TickerData | ExchangeError]:
        """The tickers of `symbols`; a bad ticker is an error for its market only."""
        raw = await self._raw_tickers(symbols)
        received_at = timezone.now()
        result: dict[str, TickerData | ExchangeError] = {}
        for symbol in symbols:
            answer = raw.get(symbol)
            if isinstance(answer, ExchangeError):
                result[symbol] = answer
                continue
            try:
                if not answer:
                    raise BadExchangeData(f"no ticker for {symbol}")
                result[symbol] = validate_ticker(answer, received_at)
            except BadExchangeData as error:
                log_failure(f"{self.config.name} ticker {symbol}", error)
                result[symbol] = error
        return result

    async def _raw_tickers(self, symbols: Sequence[str]) -> dict[str, Any]:
        """One `fetch_tickers` where the exchange has it, else one `fetch_ticker` per market."""
        if self.client.has.get("fetchTickers"):
            return await self._call(
                "fetch_tickers", lambda: self.client.fetch_tickers(list(symbols))
            )
        answers = await asyncio.gather(
            *(
                self._call(f"fetch_ticker {s}", lambda s=s: self.client.fetch_ticker(s))
                for s in symbols
            ),
            return_exceptions=True,
        )
        return dict(zip(symbols, answers, strict=True))


def page_clipped(page: Sequence[Any], *, start: datetime, end: datetime) -> list[Any]:
    """The rows of one OHLCV page that open in [start, end); a row that is not a well-formed
    OHLCV row is kept, for validation to refuse with its reason."""
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    return [
        row
        for row in page
        if not (isinstance(row, list | tuple) and row and isinstance(row[0], int | float))
        or low <= row[0] < high
    ]
