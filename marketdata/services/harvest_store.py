"""Storing one exchange's harvest: batched writes, isolated on refusal, and its health record."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from django.db import DataError, IntegrityError

from marketdata.exchanges import CandleData, TickerData, describe
from marketdata.models import Market
from marketdata.services.contacts import exchange_contact_record
from marketdata.services.series import candles_upsert_many, tickers_store

if TYPE_CHECKING:
    from marketdata.services.collection import ExchangeWork, FeedPlan, Harvest

logger = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")


def harvest_store(item: ExchangeWork, harvest: Harvest) -> dict:
    """Write what was fetched, record the contact on the exchange; the round's summary."""
    errors: list[str] = []
    if harvest.failure is not None:
        errors.append(f"{item.exchange.name}: {describe(harvest.failure)}")
    series, empty = _good_series(item, harvest, errors)
    tickers = _good_tickers(item, harvest, errors)
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
    exchange_contact_record(exchange_id=item.exchange.pk, errors=errors)
    return {
        "markets": len(item.markets),
        "feeds": len(item.feeds),
        "candles": written,
        "tickers": stored_tickers,
        "empty_answers": empty,
        "errors": errors,
        "elapsed_ms": round(harvest.elapsed * 1000),
        "slowest_request_ms": round(max(harvest.request_seconds, default=0.0) * 1000),
    }


def _good_series(
    item: ExchangeWork, harvest: Harvest, errors: list[str]
) -> tuple[dict[FeedPlan, list[CandleData]], int]:
    """The series fetched whole; failures go to `errors`. An empty answer where a closed
    candle was due is logged, counted and an error too: the exchange may lag, or a market
    stopped, and an exchange that answers nothing it owes is not a healthy contact."""
    series: dict[FeedPlan, list[CandleData]] = {}
    empty = 0
    for feed in item.feeds:
        answer = harvest.candles.get(feed)
        if isinstance(answer, BaseException):
            errors.append(f"{feed.symbol} {feed.timeframe}: {describe(answer)}")
        elif answer:
            series[feed] = answer
        elif answer is not None and feed.due:
            empty += 1
            missing = f"no candles, though one since {feed.since.isoformat()} has closed"
            errors.append(f"{feed.symbol} {feed.timeframe}: {missing}")
            logger.warning("%s %s %s: %s", item.exchange.name, feed.symbol, feed.timeframe, missing)
    return series, empty


def _good_tickers(
    item: ExchangeWork, harvest: Harvest, errors: list[str]
) -> dict[Market, TickerData]:
    tickers: dict[Market, TickerData] = {}
    for market in item.markets:
        ticker = harvest.tickers.get(market.symbol)
        if isinstance(ticker, TickerData):
            tickers[market] = ticker
        elif ticker is not None:
            errors.append(f"{market.symbol} ticker: {describe(ticker)}")
    return tickers


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
        logger.warning("batch write refused (%s); writing item by item", describe(error))
    written = 0
    for key, value in items.items():
        try:
            written += write({key: value})
        except (DataError, IntegrityError) as error:
            errors.append(f"{label(key)}: {describe(error)}")
    return written
