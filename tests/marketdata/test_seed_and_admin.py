"""The demo exchange seed and the market data admin pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command
from django.test import Client

from marketdata.models import Exchange, ExchangeAccount, Watchlist
from marketdata.simulator import DEMO_ACCOUNT
from tests.factories import MarketFactory, UserFactory

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.django_db


def test_seed_demo_exchange_is_idempotent_and_points_at_the_simulator_url() -> None:
    call_command("seed_demo_exchange", api_url="http://127.0.0.1:8765")
    call_command("seed_demo_exchange", api_url="http://127.0.0.1:8765")

    demo = Exchange.objects.get(name="demo")
    assert (demo.ccxt_id, demo.api_url) == ("bitstamp", "http://127.0.0.1:8765")
    assert demo.markets.filter(symbol="BTC/USD", active=True).exists()
    assert Watchlist.objects.filter(market__exchange=demo).count() == 4


def test_seed_gives_the_first_superuser_one_demo_account_the_simulator_accepts() -> None:
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)

    call_command("seed_demo_exchange", api_url="http://127.0.0.1:8765")
    call_command("seed_demo_exchange", api_url="http://127.0.0.1:8765")

    account = ExchangeAccount.objects.get(owner=admin)
    assert (account.label, account.exchange.name) == ("demo", "demo")
    assert (account.api_key, account.api_secret) == DEMO_ACCOUNT


def test_seed_without_a_superuser_creates_no_account() -> None:
    call_command("seed_demo_exchange", api_url="http://127.0.0.1:8765")

    assert not ExchangeAccount.objects.exists()


@pytest.mark.parametrize("page", ["exchange", "market", "candle", "ticker", "watchlist"])
@pytest.mark.usefixtures("plain_static_files")
def test_admin_lists_market_data_and_refuses_to_add_exchange_rows(page: str) -> None:
    MarketFactory()
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get(f"/admin/marketdata/{page}/", secure=True)
    adding = client.get(f"/admin/marketdata/{page}/add/", secure=True)

    assert listing.status_code == 200
    assert adding.status_code == (403 if page in {"market", "candle", "ticker"} else 200)
