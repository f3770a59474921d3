"""Money is shown with no more places than its currency has, amounts and prices with their
market's, in the API's orders and figures whatever was stored (the admin's lists:
tests/strategies/test_admin_display.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from marketdata.models import Market
from strategies.models import PaperPosition
from tests.factories import StrategyFactory
from tests.strategies.markets import btc_usd_market, order_with_twelve_places
from tests.strategies.scripted import script_fills

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc_usd() -> Market:
    return btc_usd_market()


def test_the_api_shows_an_orders_numbers_in_its_markets_places(
    api: APIClient, user: AbstractUser, btc_usd: Market
) -> None:
    strategy = StrategyFactory(owner=user, market=btc_usd, kind="dca")
    order_with_twelve_places(strategy)

    response = api.get(f"/api/strategies/{strategy.pk}/orders/")

    assert response.status_code == 200, response.content
    (order,) = response.json()["results"]
    assert (order["amount"], order["filled_amount"]) == ("0.0017", "0.0017")
    assert (order["price"], order["average_price"]) == ("59755.40", "59755.40")
    assert order["fee"] == "0.10"


def test_the_api_shows_paper_money_in_cents(
    api: APIClient, user: AbstractUser, btc_usd: Market
) -> None:
    strategy = StrategyFactory(owner=user, market=btc_usd, kind="dca")
    PaperPosition.objects.create(strategy=strategy, quote_balance=Decimal("9499.500000065047"))

    position = api.get(f"/api/strategies/{strategy.pk}/").json()["position"]

    assert position["quote_balance"] == "9499.50"


def test_the_trades_endpoint_shows_prices_and_money_in_the_markets_places(
    api: APIClient, user: AbstractUser, btc_usd: Market
) -> None:
    strategy = StrategyFactory(owner=user, market=btc_usd, timeframe="1h")
    script_fills(strategy)

    data = api.get(f"/api/strategies/{strategy.pk}/trades/").json()

    newest, oldest = data["closed"]
    assert (oldest["amount"], oldest["entry_price"], oldest["exit_price"]) == (
        "1.5",
        "100.00",
        "120.00",
    )
    assert (oldest["profit"], oldest["fees"]) == ("29.67", "0.33")
    assert newest["profit"] == "-0.10"  # cents, as the orders and the position show money
    assert data["summary"]["closed_profit"] == "29.57"
