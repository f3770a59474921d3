"""Collection rounds: fetch candles and tickers of many series concurrently, then store them."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from marketdata import exchanges, selectors
from marketdata.exchanges import CandleData, ExchangeConfig, ExchangeError, TickerData
from marketdata.models import TIMEFRAME_DURATIONS, Exchange, Market
from marketdata.services.harvest_store import harvest_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedPlan:
    market_id: int
    symbol: str
    timeframe: str
    since: datetime
    # A closed candle the database lacks exists by now: an empty answer is then a fault.
    due: bool = True


@dataclass
class Harvest:
    candles: dict[FeedPlan, list[CandleData] | BaseException] = field(default_factory=dict)
    tickers: dict[str, TickerData | ExchangeError] = field(default_factory=dict)
    request_seconds: list[float] = field(default_factory=list)
    failure: BaseException | None = None
    elapsed: float = 0.0


@dataclass(frozen=True)
class ExchangeWork:
    exchange: Exchange
    config: ExchangeConfig
    feeds: list[FeedPlan]
    markets: list[Market]


def market_data_collect(
    *,
    extra_feeds: Iterable[tuple[int, str]] = (),
    watchlist: bool = True,
    skip_feeds: Iterable[tuple[int, str]] = (),
    due_only: bool = False,
) -> dict[str, dict]:
    """One collection round over the enabled watchlist (unless `watchlist` is False) and
    `extra_feeds` (e.g. the series of active strategies), less `skip_feeds`: candles from the
    last closed one (gaps within the backfill horizon refilled) and the markets' tickers.
    With `due_only`, only series whose next candle has closed by now are asked for, so a
    frequent round costs nothing between closes.

    All exchanges and markets are fetched concurrently (bounded per exchange by
    EXCHANGE_CONCURRENCY); a failing market or exchange is reported in the summary and never
    stops the others. A series is written only once fully fetched and validated; the database
    work is batched (one query for all fetch starts; per exchange, one upsert of all series
    and one ticker insert). Returns a summary per exchange name.
    """
    started = time.monotonic()
    pairs = set(extra_feeds) | (selectors.watchlist_feeds() if watchlist else set())
    pairs -= set(skip_feeds)
    work = collection_plan(pairs=pairs, now=timezone.now(), due_only=due_only)
    harvests = asyncio.run(_harvest_all(work))
    summary = {
        item.exchange.name: harvest_store(item, harvest)
        for item, harvest in zip(work, harvests, strict=True)
    }
    for name, report in summary.items():
        logger.info(
            "collected %s: %d feeds, %d candles, %d tickers, %d errors in %d ms",
            name, report["feeds"], report["candles"], report["tickers"], len(report["errors"]),
            report["elapsed_ms"],
        )  # fmt: skip
    logger.info("collection round took %.0f ms", (time.monotonic() - started) * 1000)
    return summary


def collection_plan(
    *, pairs: set[tuple[int, str]], now: datetime, due_only: bool
) -> list[ExchangeWork]:
    """What to fetch from each exchange: each series once, from where the database ends."""
    feeds_by_exchange = {
        exchange: kept
        for exchange, feeds in selectors.collection_feeds(extra=pairs).items()
        if (kept := [(market, tf) for market, tf in feeds if (market.pk, tf) in pairs])
    }
    starts = selectors.candle_fetch_starts(
        horizons={
            (market.pk, tf): _horizon_start(tf, now)
            for feeds in feeds_by_exchange.values()
            for market, tf in feeds
        }
    )
    work = []
    for exchange, feeds in feeds_by_exchange.items():
        plans = [
            FeedPlan(market.pk, market.symbol, tf, since, since + TIMEFRAME_DURATIONS[tf] <= now)
            for market, tf in feeds
            for since in [starts[market.pk, tf]]
        ]
        if due_only:
            plans = [plan for plan in plans if plan.due]
        if plans:
            markets = {market.pk: market for market, _ in feeds}
            wanted = [markets[pk] for pk in dict.fromkeys(plan.market_id for plan in plans)]
            work.append(ExchangeWork(exchange, ExchangeConfig.of(exchange), plans, wanted))
    return work


def _horizon_start(timeframe: str, now: datetime) -> datetime:
    """The open time of the oldest candle within the backfill horizon, on the timeframe's grid."""
    step = TIMEFRAME_DURATIONS[timeframe]
    horizon = now - step * settings.MARKETDATA_BACKFILL_CANDLES
    step_s = step.total_seconds()
    return datetime.fromtimestamp(horizon.timestamp() // step_s * step_s, tz=now.tzinfo)


async def _harvest_all(work: list[ExchangeWork]) -> list[Harvest]:
    return list(await asyncio.gather(*(_harvest(item) for item in work)))


async def _harvest(item: ExchangeWork) -> Harvest:
    harvest = Harvest()
    started = time.monotonic()
    symbols = [m.symbol for m in item.markets]
    try:
        async with exchanges.async_client(item.config) as session:
            bound = asyncio.Semaphore(settings.EXCHANGE_CONCURRENCY)
            *series, ticker_answer = await asyncio.gather(
                *(_candles(session, bound, feed) for feed in item.feeds),
                _tickers(session, bound, symbols),
                return_exceptions=True,
            )
            harvest.candles = dict(zip(item.feeds, series, strict=True))
            if isinstance(ticker_answer, BaseException):
                harvest.tickers = dict.fromkeys(symbols, _as_exchange_error(ticker_answer))
            else:
                harvest.tickers = ticker_answer
            harvest.request_seconds = session.request_seconds
    except Exception as error:
        harvest.failure = error
    harvest.elapsed = time.monotonic() - started
    return harvest


async def _candles(
    session: exchanges.AsyncExchangeSession, bound: asyncio.Semaphore, feed: FeedPlan
) -> list[CandleData]:
    step = TIMEFRAME_DURATIONS[feed.timeframe] * settings.MARKETDATA_PAGE_LIMIT
    pages = math.ceil((timezone.now() - feed.since) / step) + 1
    async with bound:
        return await session.fetch_candles(
            symbol=feed.symbol,
            timeframe=feed.timeframe,
            since=feed.since,
            page_limit=settings.MARKETDATA_PAGE_LIMIT,
            max_pages=pages,
        )


async def _tickers(
    session: exchanges.AsyncExchangeSession, bound: asyncio.Semaphore, symbols: list[str]
) -> dict[str, TickerData | ExchangeError]:
    async with bound:
        return await session.fetch_tickers(symbols)


def _as_exchange_error(error: BaseException) -> ExchangeError:
    return error if isinstance(error, ExchangeError) else ExchangeError(repr(error))
