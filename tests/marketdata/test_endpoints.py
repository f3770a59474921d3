"""Where requests go: `api_url` keeps every API family's path, `api_urls` moves one family,
`sandbox` takes ccxt's own testnet URLs; tried against a server with only the real paths."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import ccxt
import pytest
from pytest_django.fixtures import Settings

from marketdata.exchanges import ExchangeConfig, ExchangeError, build_client
from marketdata.models import Exchange, Market
from marketdata.services import markets_sync
from tests.factories import ExchangeFactory
from tests.replay import ReplayServer, fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def binance_replay() -> Iterator[ReplayServer]:
    server = ReplayServer(fixture("binance")["routes"]).start()
    yield server
    server.stop()


def binance(settings: Settings, **fields: object) -> Exchange:
    exchange = ExchangeFactory(name="binance", ccxt_id="binance", **fields)
    settings.EXCHANGE_RATE_LIMITS = {exchange.name: 0}
    return exchange


def test_api_url_replaces_the_host_of_each_api_family_and_keeps_its_path() -> None:
    stock = ccxt.binance().urls["api"]

    client = build_client(ExchangeConfig("b", "binance", "http://127.0.0.1:9"))

    rebased = client.urls["api"]
    assert len(rebased) == len(stock) == 22
    for family, url in stock.items():
        assert rebased[family] == "http://127.0.0.1:9" + urlsplit(url).path


def test_a_path_in_api_url_goes_in_front_of_each_family_path() -> None:
    client = build_client(ExchangeConfig("k", "kraken", "https://proxy.example/kraken/"))

    assert client.urls["api"]["public"] == "https://proxy.example/kraken"
    assert client.urls["api"]["zendesk"] == (
        "https://proxy.example/kraken/api/v2/help_center/en-us/articles"
    )


def test_markets_of_every_family_load_through_one_api_url(
    binance_replay: ReplayServer, settings: Settings
) -> None:
    exchange = binance(settings, api_url=binance_replay.url)

    markets_sync(exchange_id=exchange.pk)

    asked = {r.path for r in binance_replay.requests}
    assert {"/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"} <= asked
    assert list(Market.objects.filter(exchange=exchange).values_list("symbol", flat=True)) == [
        "BTC/USDT"
    ]


def test_api_urls_moves_one_family_and_leaves_the_others(
    binance_replay: ReplayServer, settings: Settings
) -> None:
    routes = fixture("binance")["routes"]
    futures = next(r for r in routes if r["path"] == "/fapi/v1/exchangeInfo")
    elsewhere = ReplayServer([{**futures, "path": "/mirror/fapi/v1/exchangeInfo"}]).start()
    try:
        exchange = binance(
            settings,
            api_url=binance_replay.url,
            api_urls={"fapiPublic": f"{elsewhere.url}/mirror/fapi/v1"},
        )
        markets_sync(exchange_id=exchange.pk)
    finally:
        elsewhere.stop()

    assert [r.path for r in elsewhere.requests] == ["/mirror/fapi/v1/exchangeInfo"]
    assert "/fapi/v1/exchangeInfo" not in {r.path for r in binance_replay.requests}


def test_an_unknown_api_family_is_a_clear_error() -> None:
    config = ExchangeConfig("b", "binance", "", api_urls={"fapiPublik": "http://127.0.0.1:9"})

    with pytest.raises(ExchangeError, match="no API families \\['fapiPublik'\\]"):
        build_client(config)


@pytest.mark.parametrize(
    ("ccxt_id", "family", "testnet_host"),
    [
        ("binance", "public", "testnet.binance.vision"),
        ("bybit", "public", "api-testnet.{hostname}"),
    ],
)
def test_sandbox_uses_ccxts_own_testnet_urls(ccxt_id: str, family: str, testnet_host: str) -> None:
    client = build_client(ExchangeConfig("x", ccxt_id, "", sandbox=True))

    assert urlsplit(client.urls["api"][family]).netloc == testnet_host


def test_sandbox_and_api_url_together_reach_the_testnet_paths(
    binance_replay: ReplayServer, settings: Settings
) -> None:
    exchange = binance(settings, api_url=binance_replay.url, sandbox=True)

    markets_sync(exchange_id=exchange.pk)

    assert "/api/v3/exchangeInfo" in {r.path for r in binance_replay.requests}
    assert Market.objects.filter(exchange=exchange, symbol="BTC/USDT").exists()


def test_sandbox_on_an_exchange_without_a_testnet_is_a_clear_error() -> None:
    with pytest.raises(ExchangeError, match="ccxt knows no testnet \\(sandbox\\) for kraken"):
        build_client(ExchangeConfig("k", "kraken", "", sandbox=True))
