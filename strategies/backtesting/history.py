"""History to backtest on: which candles of a period are missing, and a backfill that fetches
them through the exchange gateway, page by page, with progress."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from marketdata import exchanges
from marketdata.exchanges import CandleData, ExchangeConfig
from marketdata.models import TIMEFRAME_DURATIONS, Candle, Market
from marketdata.services.series import candles_upsert

# Pages fetched per client session (one event loop): progress is stored between batches.
PAGES_PER_BATCH = 10


@dataclass(frozen=True)
class Gap:
    """Open times [start, end) of closed candles not stored."""

    start: datetime
    end: datetime


def candle_gaps(*, market_id: int, timeframe: str, start: datetime, end: datetime) -> list[Gap]:
    """The runs of candles opening in [start, end) that are not stored closed, oldest first."""
    step = TIMEFRAME_DURATIONS[timeframe]
    stored = Candle.objects.filter(
        market_id=market_id,
        timeframe=timeframe,
        is_closed=True,
        open_time__gte=start,
        open_time__lt=end,
    ).order_by("open_time")
    gaps, cursor = [], start
    for opened in stored.values_list("open_time", flat=True).iterator(chunk_size=10_000):
        if opened > cursor:
            gaps.append(Gap(cursor, opened))
        cursor = opened + step
    if cursor < end:
        gaps.append(Gap(cursor, end))
    return gaps


def candles_backfill(
    *,
    market_id: int,
    timeframe: str,
    start: datetime,
    end: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fetch the closed candles of [start, end) the database lacks, page by page through the
    gateway (pages of MARKETDATA_PAGE_LIMIT candles); `progress(pages done, pages in all)`
    after each batch. Returns how many candles were stored."""
    market = Market.objects.select_related("exchange").get(pk=market_id)
    config = ExchangeConfig.of(market.exchange)
    page = TIMEFRAME_DURATIONS[timeframe] * settings.MARKETDATA_PAGE_LIMIT
    gaps = candle_gaps(market_id=market_id, timeframe=timeframe, start=start, end=end)
    total = sum(math.ceil((gap.end - gap.start) / page) for gap in gaps)
    done = stored = 0
    for gap in gaps:
        cursor = gap.start
        while cursor < gap.end:
            pages = min(PAGES_PER_BATCH, math.ceil((gap.end - cursor) / page))
            candles = asyncio.run(
                _fetch(config, market.symbol, timeframe, cursor, pages, until=gap.end)
            )
            closed = [c for c in candles if c.is_closed and cursor <= c.open_time < gap.end]
            stored += candles_upsert(market_id=market_id, timeframe=timeframe, candles=closed)
            cursor, done = cursor + page * pages, done + pages
            if progress is not None:
                progress(done, total)
    return stored


async def _fetch(
    config: ExchangeConfig,
    symbol: str,
    timeframe: str,
    since: datetime,
    pages: int,
    until: datetime,
) -> list[CandleData]:
    async with exchanges.async_client(config) as session:
        return await session.fetch_candles(
            symbol=symbol,
            timeframe=timeframe,
            since=since,
            page_limit=settings.MARKETDATA_PAGE_LIMIT,
            max_pages=pages,
            until=until,
        )
