"""Writes of market data: candle and ticker upserts, market lists, collection rounds, retention."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from marketdata import exchanges, selectors
from marketdata.exchanges import CandleData, ExchangeConfig, ExchangeError, TickerData
from marketdata.models import (
    TIMEFRAME_DURATIONS,
    Candle,
    Exchange,
    Market,
    Ticker,
    Watchlist,
)

logger = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

CANDLE_COLUMNS = ("market_id", "timeframe", "open_time", "open", "high", "low", "close", "volume")
STAGING_TABLE = "tickwork_candle_staging"
COPY_CHUNK = 10_000


# --- Candles and tickers ------------------------------------------------------------------
def candles_upsert(*, market_id: int, timeframe: str, candles: Iterable[CandleData]) -> int:
    """Insert or update one series' candles; returns how many rows changed (see
    `candles_upsert_many`)."""
    return candles_upsert_many(series={(market_id, timeframe): candles})


def candles_upsert_many(*, series: Mapping[tuple[int, str], Iterable[CandleData]]) -> int:
    """Insert or update the candles of several (market id, timeframe) series in one statement;
    returns how many rows changed.

    Rows are COPYed into a session-local staging table without indexes, then moved with one
    `INSERT ... ON CONFLICT DO UPDATE` (several times faster than `bulk_create`, see
    bench/ingest.py; MERGE and `UPDATE ... FROM` + `INSERT` measured no faster, and they need
    a lock against concurrent inserts that ON CONFLICT does not). Unchanged rows are not
    rewritten; a closed candle never reopens. Rows go in key order, so concurrent collections
    of the same series cannot deadlock. All or nothing: one series the database refuses
    (e.g. a value too large for its column) fails the whole call.
    """
    table = Candle._meta.db_table
    values = ", ".join(f"{c} = EXCLUDED.{c}" for c in CANDLE_COLUMNS[3:])
    columns = ", ".join((*CANDLE_COLUMNS, "is_closed"))
    staged = ", ".join(("market_id", "timeframe", "to_timestamp(open_time)", *CANDLE_COLUMNS[3:]))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} (
                market_id bigint, timeframe varchar(4), open_time double precision,
                open numeric(30, 12), high numeric(30, 12), low numeric(30, 12),
                close numeric(30, 12), volume numeric(30, 12), is_closed boolean
            ) ON COMMIT DELETE ROWS"""
        )
        # Inside an outer transaction (or a test) no commit has emptied it yet.
        cursor.execute(f"TRUNCATE {STAGING_TABLE}")
        # Room to sort a large batch in memory rather than on disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # The raw psycopg COPY bypasses Django's translation of errors (e.g. into DataError).
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {STAGING_TABLE} ({columns}) FROM STDIN") as copy,
        ):
            # Text rows built here are several times faster than write_row's per-value dumpers;
            # epoch seconds (exact to the microsecond) cost a fifth of isoformat().
            lines: list[str] = []
            for (market_id, timeframe), candles in series.items():
                prefix = f"{market_id}\t{timeframe}\t"
                for c in candles:
                    lines.append(
                        f"{prefix}{c.open_time.timestamp()!r}\t{c.open!s}\t{c.high!s}\t"
                        f"{c.low!s}\t{c.close!s}\t{c.volume!s}\t{'t' if c.is_closed else 'f'}\n"
                    )
                    if len(lines) >= COPY_CHUNK:
                        copy.write("".join(lines))
                        lines.clear()
            copy.write("".join(lines))
        cursor.execute(
            f"""
            INSERT INTO {table} ({columns})
            SELECT {staged}, is_closed FROM {STAGING_TABLE}
            ORDER BY market_id, timeframe, open_time
            ON CONFLICT (market_id, timeframe, open_time) DO UPDATE
            SET {values}, is_closed = {table}.is_closed OR EXCLUDED.is_closed
            WHERE ({", ".join(f"{table}.{c}" for c in CANDLE_COLUMNS[3:])}, {table}.is_closed)
                IS DISTINCT FROM
                ({", ".join(f"EXCLUDED.{c}" for c in CANDLE_COLUMNS[3:])},
                 {table}.is_closed OR EXCLUDED.is_closed)
            """  # noqa: S608 - table and column names are ours
        )
        return cursor.rowcount


@transaction.atomic
def tickers_store(*, tickers: Iterable[tuple[int, TickerData]]) -> int:
    """Store ticker snapshots, given as (market id, ticker) pairs, in one statement; one per
    market and exchange timestamp, repeats ignored. All or nothing."""
    rows = [
        Ticker(
            market_id=market_id,
            time=t.time,
            last=t.last,
            bid=t.bid,
            ask=t.ask,
            high=t.high,
            low=t.low,
            volume=t.volume,
        )
        for market_id, t in tickers
    ]
    return len(Ticker.objects.bulk_create(rows, ignore_conflicts=True))


# --- Markets ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketsSync:
    created: int
    updated: int
    deactivated_ids: list[int]


@transaction.atomic
def markets_sync(*, exchange_id: int) -> MarketsSync:
    """Upsert the exchange's markets from `load_markets`.

    Markets it no longer lists (or lists as not trading) become inactive; their ids are
    returned so that the caller can pause what depends on them. Reactivated markets clear
    `inactive_since`.
    """
    exchange = Exchange.objects.get(pk=exchange_id)
    listed = {m.symbol: m for m in exchanges.load_markets(exchange=exchange)}
    existing = {m.symbol: m for m in exchange.markets.select_for_update()}
    now = timezone.now()
    created = updated = 0
    deactivated: list[int] = []
    for symbol, info in listed.items():
        market = existing.get(symbol)
        if market is None:
            market = Market(exchange=exchange, symbol=symbol)
            created += 1
        else:
            updated += 1
        if market.active and not info.active and market.pk:
            deactivated.append(market.pk)
        if info.active and not market.active:
            market.inactive_since = None
        elif not info.active and market.inactive_since is None:
            market.inactive_since = now
        market.exchange_symbol = info.exchange_symbol
        market.base, market.quote = info.base, info.quote
        market.precision, market.limits, market.active = info.precision, info.limits, info.active
        market.save()
    for symbol, market in existing.items():
        if symbol not in listed and market.active:
            market.active = False
            market.inactive_since = now
            market.save(update_fields=["active", "inactive_since", "updated_at"])
            deactivated.append(market.pk)
    if deactivated:
        logger.warning("%s: markets no longer trading: %s", exchange.name, sorted(deactivated))
    return MarketsSync(created, updated, sorted(deactivated))


def all_markets_sync() -> dict[str, dict]:
    """`markets_sync` for every enabled exchange; one failing exchange never stops the others.
    Per exchange: created, updated and deactivated market ids, or the error."""
    summary: dict[str, dict] = {}
    for exchange in Exchange.objects.filter(enabled=True):
        try:
            synced = markets_sync(exchange_id=exchange.pk)
        except ExchangeError as error:
            summary[exchange.name] = {"error": _describe(error)}
            continue
        summary[exchange.name] = {
            "created": synced.created,
            "updated": synced.updated,
            "deactivated": synced.deactivated_ids,
        }
    logger.info("markets synced: %s", summary)
    return summary


# --- Collection ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedPlan:
    market_id: int
    symbol: str
    timeframe: str
    since: datetime


@dataclass
class Harvest:
    candles: dict[FeedPlan, list[CandleData] | BaseException] = field(default_factory=dict)
    tickers: dict[str, TickerData | ExchangeError] = field(default_factory=dict)
    request_seconds: list[float] = field(default_factory=list)
    failure: BaseException | None = None
    elapsed: float = 0.0


def market_data_collect(*, extra_feeds: Iterable[tuple[int, str]] = ()) -> dict[str, dict]:
    """One collection round over every enabled exchange's watched (market, timeframe) pairs
    and `extra_feeds`: candles from the last closed one (gaps within the backfill horizon
    refilled) and the markets' tickers.

    All exchanges and markets are fetched concurrently (bounded per exchange by
    EXCHANGE_CONCURRENCY); a failing market or exchange is reported in the summary and never
    stops the others. A series is written only once fully fetched and validated; the database
    work is batched (one query for all fetch starts; per exchange, one upsert of all series
    and one ticker insert), and a batch the database refuses is written market by market.
    Returns a summary per exchange name.
    """
    started = time.monotonic()
    now = timezone.now()
    feeds_by_exchange = selectors.collection_feeds(extra=extra_feeds)
    starts = selectors.candle_fetch_starts(
        horizons={
            (market.pk, tf): _horizon_start(tf, now)
            for feeds in feeds_by_exchange.values()
            for market, tf in feeds
        }
    )
    plans: dict[Exchange, tuple[ExchangeConfig, list[FeedPlan], list[Market]]] = {}
    for exchange, feeds in feeds_by_exchange.items():
        feed_plans = [
            FeedPlan(market.pk, market.symbol, tf, starts[market.pk, tf]) for market, tf in feeds
        ]
        markets = list({market.pk: market for market, _ in feeds}.values())
        plans[exchange] = (ExchangeConfig.of(exchange), feed_plans, markets)
    work = [
        (config, feeds, [m.symbol for m in markets]) for config, feeds, markets in plans.values()
    ]
    harvests = asyncio.run(_harvest_all(work))
    summary = {}
    for (exchange, (_, feeds, markets)), harvest in zip(plans.items(), harvests, strict=True):
        summary[exchange.name] = _store_harvest(exchange, feeds, markets, harvest)
    for name, report in summary.items():
        logger.info(
            "collected %s: %d feeds, %d candles, %d tickers, %d errors in %d ms",
            name, report["feeds"], report["candles"], report["tickers"], len(report["errors"]),
            report["elapsed_ms"],
        )  # fmt: skip
    logger.info("collection round took %.0f ms", (time.monotonic() - started) * 1000)
    return summary


def _horizon_start(timeframe: str, now: datetime) -> datetime:
    """The open time of the oldest candle within the backfill horizon, on the timeframe's grid."""
    step = TIMEFRAME_DURATIONS[timeframe]
    horizon = now - step * settings.MARKETDATA_BACKFILL_CANDLES
    step_s = step.total_seconds()
    return datetime.fromtimestamp(horizon.timestamp() // step_s * step_s, tz=now.tzinfo)


async def _harvest_all(
    work: list[tuple[ExchangeConfig, list[FeedPlan], list[str]]],
) -> list[Harvest]:
    return list(await asyncio.gather(*(_harvest(*item) for item in work)))


async def _harvest(config: ExchangeConfig, feeds: list[FeedPlan], symbols: list[str]) -> Harvest:
    harvest = Harvest()
    started = time.monotonic()
    try:
        async with exchanges.async_client(config) as session:
            bound = asyncio.Semaphore(settings.EXCHANGE_CONCURRENCY)

            async def candles(feed: FeedPlan) -> list[CandleData]:
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

            async def tickers() -> dict[str, TickerData | ExchangeError]:
                async with bound:
                    return await session.fetch_tickers(symbols)

            *series, ticker_answer = await asyncio.gather(
                *(candles(f) for f in feeds), tickers(), return_exceptions=True
            )
            harvest.candles = dict(zip(feeds, series, strict=True))
            if isinstance(ticker_answer, BaseException):
                harvest.tickers = dict.fromkeys(symbols, _as_exchange_error(ticker_answer))
            else:
                harvest.tickers = ticker_answer
            harvest.request_seconds = session.request_seconds
    except Exception as error:
        harvest.failure = error
    harvest.elapsed = time.monotonic() - started
    return harvest


def _as_exchange_error(error: BaseException) -> ExchangeError:
    return error if isinstance(error, ExchangeError) else ExchangeError(repr(error))


def _store_harvest(
    exchange: Exchange, feeds: list[FeedPlan], markets: list[Market], harvest: Harvest
) -> dict:
    errors: list[str] = []
    if harvest.failure is not None:
        errors.append(f"{exchange.name}: {_describe(harvest.failure)}")
    series: dict[FeedPlan, list[CandleData]] = {}
    for feed in feeds:
        answer = harvest.candles.get(feed)
        if isinstance(answer, BaseException):
            errors.append(f"{feed.symbol} {feed.timeframe}: {_describe(answer)}")
        elif answer:
            series[feed] = answer
    tickers: dict[Market, TickerData] = {}
    for market in markets:
        ticker = harvest.tickers.get(market.symbol)
        if isinstance(ticker, TickerData):
            tickers[market] = ticker
        elif ticker is not None:
            errors.append(f"{market.symbol} ticker: {_describe(ticker)}")
    written = _write_isolated(
        series,
        lambda part: candles_upsert_many(
            series={(feed.market_id, feed.timeframe): rows for feed, rows in part.items()}
        ),
        lambda feed: f"{feed.symbol} {feed.timeframe}",
        errors,
    )
    stored_tickers = _write_isolated(
        tickers,
        lambda part: tickers_store(tickers=[(m.pk, t) for m, t in part.items()]),
        lambda market: f"{market.symbol} ticker",
        errors,
    )
    if errors:
        exchange.last_error_at, exchange.last_error = timezone.now(), "\n".join(errors)[:5000]
    else:
        exchange.last_success_at = timezone.now()
    exchange.save(update_fields=["last_error_at", "last_error", "last_success_at"])
    return {
        "markets": len(markets),
        "feeds": len(feeds),
        "candles": written,
        "tickers": stored_tickers,
        "errors": errors,
        "elapsed_ms": round(harvest.elapsed * 1000),
        "slowest_request_ms": round(max(harvest.request_seconds, default=0.0) * 1000),
    }


def _write_isolated(
    items: dict[K, V],
    write: Callable[[dict[K, V]], int],
    label: Callable[[K], str],
    errors: list[str],
) -> int:
    """`write` all items in one go; if the database refuses the batch, write them one by one,
    so that one market the database refuses loses only its own data (listed in `errors`).
    `write` must be all or nothing. Returns how many rows were written."""
    if not items:
        return 0
    try:
        return write(items)
    except (DataError, IntegrityError) as error:
        logger.warning("batch write refused (%s); writing item by item", _describe(error))
    written = 0
    for key, value in items.items():
        try:
            written += write({key: value})
        except (DataError, IntegrityError) as error:
            errors.append(f"{label(key)}: {_describe(error)}")
    return written


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


# --- The demo exchange --------------------------------------------------------------------
DEMO_WATCHLIST = [("BTC/USD", "1m"), ("ETH/USD", "1m"), ("BTC/USD", "1h"), ("ETH/USD", "1h")]


def demo_exchange_seed(*, api_url: str, load_markets_from: str = "") -> Exchange:
    """The `demo` exchange (ccxt's bitstamp at `api_url`), its markets and a small watchlist;
    idempotent. `load_markets_from` lets the markets come from another simulator instance when
    the one at `api_url` is not running yet (as in `make run`'s set-up step)."""
    exchange, _ = Exchange.objects.update_or_create(
        name="demo",
        defaults={"ccxt_id": "bitstamp", "api_url": load_markets_from or api_url, "enabled": True},
    )
    markets_sync(exchange_id=exchange.pk)
    if exchange.api_url != api_url:
        exchange.api_url = api_url
        exchange.save(update_fields=["api_url"])
    for symbol, timeframe in DEMO_WATCHLIST:
        market = exchange.markets.get(symbol=symbol)
        Watchlist.objects.get_or_create(market=market, timeframe=timeframe)
    return exchange
