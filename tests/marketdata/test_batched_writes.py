"""Batched market data writes: one query for all fetch starts, one upsert per exchange, and
per-market isolation when the database refuses one market's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketdata.exchanges import CandleData
from marketdata.models import Candle, Exchange, Market, Ticker, Watchlist
from marketdata.selectors import candle_fetch_starts
from marketdata.services import candles_upsert_many, market_data_collect
from marketdata.simulator import SimulatedExchange
from tests.factories import MarketFactory

if TYPE_CHECKING:
    from pytest_django import DjangoAssertNumQueries
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db
BACKFILL = 30
HOUR = timedelta(hours=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def bars(
    start: datetime, count: int, *, price: str = "10", closed: bool = True
) -> list[CandleData]:
    p = Decimal(price)
    return [
        CandleData(start + n * HOUR, p, p + 1, p - 1, p, Decimal(3), closed) for n in range(count)
    ]


@pytest.fixture
def watch(exchange: Exchange, settings: Settings) -> list[Market]:
    settings.MARKETDATA_BACKFILL_CANDLES = BACKFILL
    markets = [exchange.markets.get(symbol=s) for s in ("BTC/USD", "ETH/USD")]
    for market in markets:
        Watchlist.objects.create(market=market, timeframe="1m")
    return markets


def test_fetch_starts_of_several_series_come_from_one_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    empty, contiguous, holed = MarketFactory.create_batch(3)
    Candle.objects.bulk_create(
        Candle(market=m, timeframe="1h", open_time=c.open_time, open=c.open, high=c.high,
               low=c.low, close=c.close, volume=c.volume, is_closed=c.is_closed)
        for m, rows in (
            (contiguous, [*bars(T0, 5), *bars(T0 + 5 * HOUR, 1, closed=False)]),
            (holed, [*bars(T0, 2), *bars(T0 + 4 * HOUR, 3)]),
        )
        for c in rows
    )  # fmt: skip
    horizons = {(m.pk, "1h"): T0 for m in (empty, contiguous, holed)}

    with django_assert_num_queries(1):
        starts = candle_fetch_starts(horizons=horizons)

    assert starts == {
        (empty.pk, "1h"): T0,
        (contiguous.pk, "1h"): T0 + 5 * HOUR,
        (holed.pk, "1h"): T0 + 2 * HOUR,
    }


def test_several_series_are_upserted_in_one_call_and_unchanged_rows_skipped() -> None:
    btc, eth = MarketFactory.create_batch(2)

    first = candles_upsert_many(
        series={(btc.pk, "1h"): bars(T0, 3), (eth.pk, "1h"): bars(T0, 2), (eth.pk, "1d"): []}
    )
    again = candles_upsert_many(
        series={(btc.pk, "1h"): bars(T0, 3), (eth.pk, "1h"): bars(T0, 2, price="20")}
    )

    assert (first, again) == (5, 2)
    assert Candle.objects.filter(market=btc, close=Decimal(10)).count() == 3
    assert Candle.objects.filter(market=eth, close=Decimal(20)).count() == 2


def test_a_rounds_database_work_does_not_grow_with_its_markets(
    exchange: Exchange, watch: list[Market]
) -> None:
    with CaptureQueriesContext(connection) as two_markets:
        market_data_collect()
    for symbol in ("SOL/USD", "LTC/USD", "XRP/USD"):
        Watchlist.objects.create(market=exchange.markets.get(symbol=symbol), timeframe="1m")

    with CaptureQueriesContext(connection) as five_markets:
        summary = market_data_collect()

    assert summary[exchange.name]["errors"] == []
    assert Candle.objects.values("market").distinct().count() == 5
    assert len(five_markets) == len(two_markets)


def test_candles_the_database_refuses_lose_only_their_market(
    exchange: Exchange, watch: list[Market], simulator: SimulatedExchange
) -> None:
    btc, eth = watch
    # Valid to the gateway (finite, not negative) but too large for the column.
    simulator.add_fault("bad_values", path="/v2/ohlc/btcusd/", field="volume", value="1e20")

    summary = market_data_collect()

    errors = summary[exchange.name]["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("BTC/USD 1m: DataError")
    assert not Candle.objects.filter(market=btc).exists()
    assert Candle.objects.filter(market=eth).count() >= BACKFILL
    assert summary[exchange.name]["candles"] == Candle.objects.filter(market=eth).count()
    assert Ticker.objects.filter(market__in=watch).count() == 2
    exchange.refresh_from_db()
    assert "BTC/USD 1m: DataError" in exchange.last_error


def test_a_ticker_the_database_refuses_loses_only_its_market(
    exchange: Exchange, watch: list[Market], simulator: SimulatedExchange
) -> None:
    simulator.add_fault("bad_values", path="/v2/ticker/", field="last", value="1e20")

    summary = market_data_collect()

    errors = summary[exchange.name]["errors"]
    assert len(errors) == 1
    assert " ticker: DataError" in errors[0]
    refused = errors[0].split(" ")[0]
    stored = Ticker.objects.filter(market__in=watch).values_list("market__symbol", flat=True)
    assert list(stored) == [m.symbol for m in watch if m.symbol != refused]
    assert summary[exchange.name]["tickers"] == 1
    assert all(Candle.objects.filter(market=m).count() >= BACKFILL for m in watch)
