"""Delisting that one bad answer cannot trigger, and relisting that undoes what delisting did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from marketdata.exchanges import BadExchangeData
from marketdata.exchanges.errors import ERROR_TEXT_LIMIT
from marketdata.models import Exchange, Market
from marketdata.services import markets_sync
from marketdata.simulator import SimulatedExchange
from project.kernel.scheduling import get_scheduler
from strategies.models import Strategy
from strategies.services import strategy_pause, strategy_start, strategy_stop
from tasks.marketdata import update_exchange_symbols
from tests.factories import ExchangeFactory, StrategyFactory
from tests.replay import ReplayServer, fixture

pytestmark = pytest.mark.django_db


def active_symbols(exchange: Exchange) -> list[str]:
    return sorted(exchange.markets.filter(active=True).values_list("symbol", flat=True))


def started_on(market: Market) -> Strategy:
    return strategy_start(strategy=StrategyFactory(market=market, is_active=False))


@pytest.fixture
def kraken_answering_an_empty_listing(settings: Settings) -> Iterator[ReplayServer]:
    routes = fixture("kraken")["routes"]
    for route in routes:
        if route["path"] == "/0/public/AssetPairs":
            route["body"] = {"error": [], "result": {}}
    server = ReplayServer(routes).start()
    yield server
    server.stop()


def test_an_empty_listing_is_refused_and_changes_nothing(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    strategy = started_on(exchange.markets.get(symbol="BTC/USD"))
    before = active_symbols(exchange)
    for market in simulator.listed():
        simulator.delist(market.name)

    with pytest.raises(BadExchangeData, match="listed no markets at all"):
        markets_sync(exchange_id=exchange.pk)

    exchange.refresh_from_db()
    strategy.refresh_from_db()
    assert active_symbols(exchange) == before
    assert len(before) == 6
    assert strategy.is_active is True
    assert "market list refused: the exchange listed no markets at all" in exchange.last_error


def test_krakens_empty_result_is_refused_too(
    kraken_answering_an_empty_listing: ReplayServer, settings: Settings
) -> None:
    exchange = ExchangeFactory(
        name="kraken", ccxt_id="kraken", api_url=kraken_answering_an_empty_listing.url
    )
    settings.EXCHANGE_RATE_LIMITS = {"kraken": 0}
    Market.objects.create(exchange=exchange, symbol="BTC/USDT", exchange_symbol="XBTUSDT",
                          base="BTC", quote="USDT")  # fmt: skip

    update_exchange_symbols()

    assert active_symbols(exchange) == ["BTC/USDT"]
    exchange.refresh_from_db()
    assert exchange.last_error_at is not None


def test_a_listing_dropping_too_many_active_markets_at_once_is_refused(
    exchange: Exchange, simulator: SimulatedExchange, settings: Settings
) -> None:
    settings.MARKETDATA_DELIST_MAX_SHARE = 0.2
    before = active_symbols(exchange)
    simulator.delist("ETH/USD")
    simulator.delist("SOL/USD")  # 2 of 6 active markets: a third

    summary = update_exchange_symbols()

    assert active_symbols(exchange) == before
    assert "drops 2 of 6 active markets" in summary[exchange.name]["error"]


def test_a_market_missing_from_a_valid_listing_is_delisted_and_its_strategies_paused(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    eth = exchange.markets.get(symbol="ETH/USD")
    on_eth = started_on(eth)
    simulator.delist("ETH/USD")

    update_exchange_symbols()

    on_eth.refresh_from_db()
    assert "ETH/USD" not in active_symbols(exchange)
    assert len(active_symbols(exchange)) == 5
    assert (on_eth.is_active, on_eth.paused_reason) == (False, f"market delisted: {eth}")


def test_a_relisted_market_resumes_only_the_strategies_its_delisting_paused(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    eth = exchange.markets.get(symbol="ETH/USD")
    paused_by_delisting, paused_by_owner = started_on(eth), started_on(eth)
    stopped = StrategyFactory(market=eth, is_active=False)
    simulator.delist("ETH/USD")
    update_exchange_symbols()
    strategy_pause(strategy=paused_by_owner, reason="owner: too volatile")
    simulator.delisted.clear()

    summary = update_exchange_symbols()

    for strategy in (paused_by_delisting, paused_by_owner, stopped):
        strategy.refresh_from_db()
    assert summary[exchange.name]["reactivated"] == [eth.pk]
    assert "ETH/USD" in active_symbols(exchange)
    assert (paused_by_delisting.is_active, paused_by_delisting.paused_reason) == (True, "")
    assert get_scheduler().get_job(paused_by_delisting.job_id) is not None
    assert (paused_by_owner.is_active, paused_by_owner.paused_reason) == (
        False, "owner: too volatile"
    )  # fmt: skip
    assert stopped.is_active is False


def test_a_strategy_paused_by_a_delisting_then_stopped_by_its_owner_stays_stopped(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    eth = exchange.markets.get(symbol="ETH/USD")
    strategy = started_on(eth)
    simulator.delist("ETH/USD")
    update_exchange_symbols()
    strategy.refresh_from_db()
    assert strategy.paused_reason == f"market delisted: {eth}"
    strategy_stop(strategy=strategy)  # the owner's stop, as the admin action and the API call it
    simulator.delisted.clear()

    summary = update_exchange_symbols()

    strategy.refresh_from_db()
    assert summary[exchange.name]["reactivated"] == [eth.pk]
    assert (strategy.is_active, strategy.paused_reason) == (False, "")
    assert get_scheduler().get_job(strategy.job_id) is None


def test_a_failed_market_sync_is_recorded_on_one_short_line(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    simulator.add_fault("server_error", times=None, path="/v2/markets/")

    summary = update_exchange_symbols()

    exchange.refresh_from_db()
    assert "ExchangeNotAvailable" in summary[exchange.name]["error"]
    assert exchange.last_error.startswith("markets: ")
    assert "\n" not in exchange.last_error
    assert len(exchange.last_error) <= len("markets: ") + ERROR_TEXT_LIMIT
