"""Collection rounds against the simulated exchange through real ccxt: candles, tickers, faults."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from marketdata.models import Candle, Exchange, Market, Ticker, Watchlist
from marketdata.services import market_data_collect, markets_sync
from marketdata.simulator import SimulatedExchange
from tests.factories import ExchangeFactory
from tests.replay import ReplayServer, fixture

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db
BACKFILL = 30


@pytest.fixture
def watched(exchange: Exchange, settings: Settings) -> dict[str, Market]:
    """BTC/USD and ETH/USD watched on 1m, with a short backfill."""
    settings.MARKETDATA_BACKFILL_CANDLES = BACKFILL
    markets = {s: exchange.markets.get(symbol=s) for s in ("BTC/USD", "ETH/USD")}
    for market in markets.values():
        Watchlist.objects.create(market=market, timeframe="1m")
    return markets


def series(market: Market) -> list[Candle]:
    return list(Candle.objects.filter(market=market, timeframe="1m").order_by("open_time"))


def assert_contiguous(candles: list[Candle]) -> None:
    steps = {b.open_time - a.open_time for a, b in itertools.pairwise(candles)}
    assert steps == {timedelta(minutes=1)}


def test_first_collection_backfills_the_horizon_and_stores_tickers(
    exchange: Exchange, watched: dict[str, Market]
) -> None:
    summary = market_data_collect()

    btc = series(watched["BTC/USD"])
    assert summary[exchange.name]["errors"] == []
    assert BACKFILL <= len(btc) <= BACKFILL + 2
    assert_contiguous(btc)
    assert [c.is_closed for c in btc[:-1]] == [True] * (len(btc) - 1)
    assert btc[-1].is_closed is False
    assert Ticker.objects.filter(market__in=watched.values()).count() == 2
    assert summary[exchange.name]["candles"] == len(btc) + len(series(watched["ETH/USD"]))
    exchange.refresh_from_db()
    assert exchange.last_success_at is not None


def test_next_collection_starts_at_the_forming_candle(
    watched: dict[str, Market], simulator: SimulatedExchange
) -> None:
    market_data_collect()
    forming = series(watched["BTC/USD"])[-1]

    market_data_collect()

    last_request = simulator.requests("/v2/ohlc/btcusd/")[-1][2]
    assert f"start={int(forming.open_time.timestamp())}&" in last_request
    btc = series(watched["BTC/USD"])
    assert_contiguous(btc)
    assert len({c.open_time for c in btc}) == len(btc)


def test_forming_candle_is_updated_then_closed(
    watched: dict[str, Market], simulator: SimulatedExchange, settings: Settings
) -> None:
    # Two minutes pass on the exchange's clock only: allow it that far ahead of ours.
    settings.MARKETDATA_MAX_CLOCK_SKEW_SECONDS = 600
    market_data_collect()
    forming = series(watched["BTC/USD"])[-1]

    simulator.advance_clock(120)
    market_data_collect()

    updated = Candle.objects.get(pk=forming.pk)
    assert updated.is_closed is True
    assert (updated.close, updated.volume) != (forming.close, forming.volume)
    newest = series(watched["BTC/USD"])[-1]
    assert newest.open_time >= forming.open_time + timedelta(minutes=2)
    assert newest.is_closed is False
    assert_contiguous(series(watched["BTC/USD"]))


def test_gap_left_by_the_exchange_is_filled_on_a_later_round(
    watched: dict[str, Market], simulator: SimulatedExchange
) -> None:
    now = int(simulator.now() // 60 * 60)
    hole = (now - 20 * 60, now - 15 * 60)
    simulator.add_fault("gap", times=None, path="btcusd", start=hole[0], end=hole[1])
    market_data_collect()
    with_gap = series(watched["BTC/USD"])

    simulator.clear_faults()
    market_data_collect()

    missing = {datetime.fromtimestamp(t, UTC) for t in range(hole[0], hole[1], 60)}
    assert missing.isdisjoint({c.open_time for c in with_gap})
    filled = series(watched["BTC/USD"])
    assert missing <= {c.open_time for c in filled}
    assert_contiguous(filled)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"retry_after": 1}),
        ("server_error", {"status": 503}),
        ("slow", {"delay": 2.0}),
    ],
)
def test_temporary_fault_is_retried_and_the_series_stored_whole(
    watched: dict[str, Market],
    simulator: SimulatedExchange,
    settings: Settings,
    kind: str,
    options: dict[str, object],
) -> None:
    settings.EXCHANGE_TIMEOUT_MS = 1000
    simulator.add_fault(kind, path="/v2/ohlc/btcusd/", **options)

    summary = market_data_collect()

    assert next(iter(summary.values()))["errors"] == []
    assert len(simulator.requests("/v2/ohlc/btcusd/")) == 2
    btc = series(watched["BTC/USD"])
    assert len(btc) >= BACKFILL
    assert_contiguous(btc)


def test_lasting_outage_of_one_market_stores_nothing_for_it_and_spares_the_others(
    watched: dict[str, Market], simulator: SimulatedExchange
) -> None:
    simulator.add_fault("server_error", times=None, path="/v2/ohlc/btcusd/")

    summary = market_data_collect()

    errors = next(iter(summary.values()))["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("BTC/USD 1m: TemporaryExchangeError")
    assert series(watched["BTC/USD"]) == []
    assert len(series(watched["ETH/USD"])) >= BACKFILL


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("malformed", {}),
        ("bad_values", {"field": "volume", "value": "-1"}),
        ("bad_values", {"field": "close", "value": "NaN"}),
        ("bad_values", {"field": "high", "value": None}),
        ("misaligned", {}),
    ],
)
def test_malformed_candles_are_rejected_not_retried_and_nothing_is_stored(
    watched: dict[str, Market],
    simulator: SimulatedExchange,
    kind: str,
    options: dict[str, object],
) -> None:
    simulator.add_fault(kind, path="/v2/ohlc/btcusd/", **options)

    summary = market_data_collect()

    errors = next(iter(summary.values()))["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("BTC/USD 1m: BadExchangeData")
    assert len(simulator.requests("/v2/ohlc/btcusd/")) == 1
    assert series(watched["BTC/USD"]) == []
    assert len(series(watched["ETH/USD"])) >= BACKFILL


def test_bad_ticker_is_rejected_and_the_candles_still_stored(
    watched: dict[str, Market], simulator: SimulatedExchange
) -> None:
    simulator.add_fault("bad_values", path="/v2/ticker/", field="last", value="-5")

    summary = market_data_collect()

    errors = next(iter(summary.values()))["errors"]
    assert len(errors) == 1
    assert "ticker" in errors[0]
    assert Ticker.objects.filter(market__in=watched.values()).count() == 1
    assert len(series(watched["BTC/USD"])) >= BACKFILL


def test_unreachable_exchange_is_reported_and_the_others_collected(
    watched: dict[str, Market], exchange: Exchange, settings: Settings
) -> None:
    settings.EXCHANGE_TIMEOUT_MS = 1000
    down = ExchangeFactory(api_url="http://127.0.0.1:9/api")
    down_market = Market.objects.create(
        exchange=down, symbol="BTC/USD", exchange_symbol="btcusd", base="BTC", quote="USD"
    )
    Watchlist.objects.create(market=down_market, timeframe="1m")

    summary = market_data_collect()

    assert summary[down.name]["errors"]
    assert "TemporaryExchangeError" in summary[down.name]["errors"][0]
    assert summary[exchange.name]["errors"] == []
    assert len(series(watched["BTC/USD"])) >= BACKFILL
    down.refresh_from_db()
    assert down.last_error_at is not None


def test_delisted_market_becomes_inactive_and_is_no_longer_collected(
    exchange: Exchange, watched: dict[str, Market], simulator: SimulatedExchange
) -> None:
    simulator.delist("ETH/USD")

    synced = markets_sync(exchange_id=exchange.pk)
    market_data_collect()

    eth = Market.objects.get(pk=watched["ETH/USD"].pk)
    assert synced.deactivated_ids == [eth.pk]
    assert eth.active is False
    assert eth.inactive_since is not None
    assert series(eth) == []
    assert not any("ethusd" in path for _, _, path in simulator.requests("/v2/ohlc/"))


def test_relisted_market_becomes_active_again(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    simulator.delist("LTC/USD")
    markets_sync(exchange_id=exchange.pk)
    simulator.delisted.clear()

    synced = markets_sync(exchange_id=exchange.pk)

    ltc = exchange.markets.get(symbol="LTC/USD")
    assert synced.deactivated_ids == []
    assert (ltc.active, ltc.inactive_since) == (True, None)


def test_unchanged_candles_are_not_rewritten(watched: dict[str, Market]) -> None:
    from marketdata.exchanges import CandleData
    from marketdata.services import candles_upsert

    opened = datetime(2026, 1, 1, tzinfo=UTC)
    candle = CandleData(opened, *(Decimal(x) for x in ["10", "12", "9", "11", "5"]), True)
    market = watched["BTC/USD"]

    first = candles_upsert(market_id=market.pk, timeframe="1h", candles=[candle])
    again = candles_upsert(market_id=market.pk, timeframe="1h", candles=[candle])
    reopened = candles_upsert(
        market_id=market.pk, timeframe="1h", candles=[replace(candle, is_closed=False)]
    )

    assert (first, again, reopened) == (1, 0, 0)
    assert Candle.objects.get(market=market, timeframe="1h").is_closed is True


def test_candles_and_tickers_from_the_future_are_refused(
    watched: dict[str, Market], simulator: SimulatedExchange, exchange: Exchange
) -> None:
    simulator.advance_clock(41 * 24 * 3600)
    candles_before, tickers_before = Candle.objects.count(), Ticker.objects.count()

    summary = market_data_collect()

    assert (Candle.objects.count(), Ticker.objects.count()) == (candles_before, tickers_before)
    errors = summary[exchange.name]["errors"]
    assert len(errors) == 4
    assert all("from the future" in error for error in errors)


def test_an_empty_answer_where_a_candle_was_due_is_logged_counted_and_not_a_success(
    exchange: Exchange, caplog: pytest.LogCaptureFixture, settings: Settings
) -> None:
    routes = fixture("bitstamp")["routes"]
    for route in routes:
        if route["path"] == "/api/v2/ohlc/btcusdt/":
            route["body"] = {"data": {"pair": "BTC/USDT", "ohlc": []}}
    replay = ReplayServer(routes).start()
    try:
        silent = ExchangeFactory(name="silent", api_url=replay.url)
        settings.EXCHANGE_RATE_LIMITS = {"silent": 0}
        markets_sync(exchange_id=silent.pk)
        Watchlist.objects.create(market=silent.markets.get(symbol="BTC/USDT"), timeframe="1h")
        candles_before = Candle.objects.count()

        summary = market_data_collect()
    finally:
        replay.stop()

    assert summary["silent"]["empty_answers"] == 1
    assert Candle.objects.count() == candles_before
    assert "silent BTC/USDT 1h: no candles, though one since" in caplog.text
    # The contact is recorded as an error, not a success: the exchange shows unhealthy.
    silent.refresh_from_db()
    assert "BTC/USDT 1h: no candles, though one since" in silent.last_error
    assert silent.last_success_at is None or silent.last_success_at < silent.last_error_at
    assert any("no candles" in error for error in summary["silent"]["errors"])
