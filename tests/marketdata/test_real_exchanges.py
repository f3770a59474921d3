"""Six real exchanges through real ccxt, on their recorded answers: what lands in the database.

One suite, parametrised by the fixtures in tests/fixtures/exchanges/ (each payload's source is
noted there). The replay server answers only each exchange's real paths, so these tests also
prove that `api_url` keeps every API family's path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from marketdata import exchanges
from marketdata.accounts import balances_sync
from marketdata.models import BalanceSnapshot, Candle, Exchange, Market, Ticker, Watchlist
from marketdata.services import market_data_collect, markets_sync
from tests.factories import ExchangeAccountFactory, ExchangeFactory
from tests.replay import ReplayServer, fixture

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db
EXCHANGES = ["bitstamp", "kraken", "binance", "coinbase", "okx", "bybit"]
# Secrets in the form each exchange's signing expects (Kraken's is base64); not real ones.
SECRETS = {"kraken": "c2VjcmV0LXNlY3JldA=="}


@pytest.fixture(params=EXCHANGES)
def recorded(request: pytest.FixtureRequest) -> dict[str, Any]:
    return fixture(request.param)


@pytest.fixture
def replay(recorded: dict[str, Any]) -> Iterator[ReplayServer]:
    server = ReplayServer(recorded["routes"]).start()
    yield server
    server.stop()


@pytest.fixture
def exchange(recorded: dict[str, Any], replay: ReplayServer, fast_retries: Settings) -> Exchange:
    exchange = ExchangeFactory(
        name=recorded["exchange"], ccxt_id=recorded["ccxt_id"], api_url=replay.url
    )
    fast_retries.EXCHANGE_RATE_LIMITS = {exchange.name: 0}
    return exchange


def _decimals(values: list[Any]) -> list[Decimal | None]:
    return [None if v is None else Decimal(str(v)) for v in values]


def test_markets_land_as_listed(exchange: Exchange, recorded: dict[str, Any]) -> None:
    before = Market.objects.count()

    markets_sync(exchange_id=exchange.pk)

    expected = recorded["expect"]["markets"]
    stored = {m.symbol: m for m in Market.objects.filter(exchange=exchange)}
    assert Market.objects.count() - before == len(expected)
    for symbol, fields in expected.items():
        market = stored[symbol]
        assert (market.exchange_symbol, market.base, market.quote, market.active) == (
            fields["exchange_symbol"], fields["base"], fields["quote"], True
        )  # fmt: skip
        assert market.ccxt_market["id"] == fields["exchange_symbol"]
    exchange.refresh_from_db()
    assert exchange.last_success_at is not None
    assert exchange.last_error == ""


def test_candles_and_ticker_land_field_by_field(
    exchange: Exchange, recorded: dict[str, Any], settings: Settings
) -> None:
    # The recorded candles are from 2024: reach back that far, in one page.
    settings.MARKETDATA_BACKFILL_CANDLES = 40_000
    settings.MARKETDATA_PAGE_LIMIT = 50_000
    markets_sync(exchange_id=exchange.pk)
    market = Market.objects.get(exchange=exchange, symbol=recorded["symbol"])
    Watchlist.objects.create(market=market, timeframe="1h")
    received_from = timezone.now()

    summary = market_data_collect()

    received_until = timezone.now()
    assert summary[exchange.name]["errors"] == []
    candles = Candle.objects.filter(market=market, timeframe="1h").order_by("open_time")
    expected = recorded["expect"]["candles"]
    assert [
        [c.open_time, c.open, c.high, c.low, c.close, c.volume, c.is_closed] for c in candles
    ] == [
        [datetime.fromtimestamp(row[0] / 1000, UTC), *_decimals(row[1:6]), True] for row in expected
    ]
    ticker = Ticker.objects.get(market=market)
    want = recorded["expect"]["ticker"]
    fields = ["last", "bid", "ask", "high", "low", "volume"]
    assert [getattr(ticker, f) for f in fields] == _decimals([want[f] for f in fields])
    if want["time_ms"] is None:
        assert received_from <= ticker.time <= received_until
    else:
        assert ticker.time == datetime.fromtimestamp(want["time_ms"] / 1000, UTC)


def test_balances_land_per_asset(exchange: Exchange, recorded: dict[str, Any]) -> None:
    markets_sync(exchange_id=exchange.pk)
    account = ExchangeAccountFactory(
        exchange=exchange, api_secret=SECRETS.get(exchange.ccxt_id, "secret-1"),
        api_passphrase="passphrase-1",
    )  # fmt: skip

    outcome = balances_sync(account_id=account.pk)

    assert outcome == "synced"
    stored = {
        b.asset: [b.free, b.used, b.total] for b in BalanceSnapshot.objects.filter(account=account)
    }
    expected = {asset: _decimals(v) for asset, v in recorded["expect"]["balances"].items()}
    assert stored == expected


def test_orders_carry_our_client_order_id_and_are_read_back(
    exchange: Exchange, recorded: dict[str, Any], replay: ReplayServer
) -> None:
    markets_sync(exchange_id=exchange.pk)
    account = ExchangeAccountFactory(
        exchange=exchange, api_secret=SECRETS.get(exchange.ccxt_id, "secret-1"),
        api_passphrase="passphrase-1",
    )  # fmt: skip
    order = recorded["expect"]["order"]

    placed = exchanges.create_order(
        account=account,
        symbol=recorded["symbol"],
        side=order["side"],
        type=order["type"],
        amount=Decimal(order["amount"]),
        price=Decimal(order["price"]) if order["price"] else None,
        client_order_id=order["client_order_id"],
    )

    sent = replay.sent(order["sent_in"])[0]
    sent_as = order.get("sent_as", order["client_order_id"])
    assert sent_as in sent.body + str(sent.query)
    assert _result(placed) == order["result"]
    lookup = recorded["expect"]["lookup_by_client_id"]
    if lookup is None:
        return
    found = exchanges.fetch_order_by_client_id(
        account=account, symbol=recorded["symbol"], client_order_id=order["client_order_id"]
    )
    asked = replay.sent(lookup["sent_in"])[-1]
    assert sent_as in asked.body + str(asked.query)
    assert _result(found) == lookup["result"]


def _result(result: exchanges.OrderResult) -> dict[str, Any]:
    average = result.average_price
    return {
        "exchange_order_id": result.exchange_order_id,
        "status": result.status,
        "amount": _plain(result.amount),
        "filled": _plain(result.filled),
        "average_price": None if average is None else _plain(average),
        "fee": _plain(result.fee),
    }


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
