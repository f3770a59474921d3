"""A market written as exchange:SYMBOL is accepted by the admin form and the API, with
suggestions as you type; the API answers with the label beside the id."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from marketdata.selectors import MarketNotFound, market_by_label, market_labels_matching
from strategies.admin import StrategyAdminForm
from strategies.models import Strategy
from tests.factories import MarketFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc():
    return MarketFactory(exchange__name="demo", symbol="BTC/USD", base="BTC", quote="USD")


def test_a_label_finds_its_market_whatever_the_letter_case_and_an_id_too(btc) -> None:
    assert market_by_label(label="demo:BTC/USD") == btc
    assert market_by_label(label=" Demo:btc/usd ") == btc
    assert market_by_label(label=str(btc.pk)) == btc


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("BTC/USD", "write the market as exchange:SYMBOL, e.g. demo:BTC/USD"),
        ("demo:", "write the market as exchange:SYMBOL"),
        ("demo:ETH/USD", "no such market here: 'demo:ETH/USD'"),
    ],
)
def test_a_label_that_names_no_market_says_how_to_write_one(btc, label: str, message: str) -> None:
    with pytest.raises(MarketNotFound, match=message):
        market_by_label(label=label)


def test_suggestions_are_active_markets_starting_like_the_text(btc) -> None:
    MarketFactory(exchange=btc.exchange, symbol="BTC/EUR")
    MarketFactory(exchange=btc.exchange, symbol="BTC/GBP", active=False)
    MarketFactory(exchange__name="kraken", symbol="BTC/USD")

    assert market_labels_matching(text="demo:btc") == ["demo:BTC/EUR", "demo:BTC/USD"]
    assert market_labels_matching(text="kra") == ["kraken:BTC/USD"]


def test_the_suggestions_endpoint_is_for_staff(btc) -> None:
    staff, other = Client(), Client()
    staff.force_login(get_user_model().objects.create_user("desk", is_staff=True))
    other.force_login(UserFactory(is_staff=False))

    answer = staff.get("/strategies/markets/?q=demo:", secure=True).json()

    assert answer == {"markets": ["demo:BTC/USD"]}
    assert other.get("/strategies/markets/?q=demo:", secure=True).status_code == 302


def admin_form(market: str, owner_pk: int) -> StrategyAdminForm:
    data = {
        "owner": owner_pk,
        "name": "typed market",
        "market": market,
        "timeframe": "1h",
        "kind": "dca",
        "parameters": "{}",
        "crontab_timezone": "UTC",
        "mode": "paper",
        "max_orders_per_day": "1440",
    }
    return StrategyAdminForm(data=data)


def test_the_admin_form_takes_the_market_as_the_readme_writes_it(btc) -> None:
    form = admin_form("demo:BTC/USD", UserFactory().pk)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["market"] == btc


def test_the_admin_form_puts_a_bad_label_on_the_market_field(btc) -> None:
    form = admin_form("demo:DOGE/USD", UserFactory().pk)

    assert not form.is_valid()
    assert form.errors["market"] == ["no such market here: 'demo:DOGE/USD'"]


def test_the_admin_form_shows_an_existing_market_as_its_label(btc) -> None:
    strategy = Strategy(market=btc)

    html = str(StrategyAdminForm(instance=strategy)["market"])

    assert 'value="demo:BTC/USD"' in html
    assert 'list="id_market-options"' in html


def test_the_api_takes_a_label_and_answers_with_id_and_label(btc) -> None:
    owner = UserFactory()
    api = APIClient()
    api.force_authenticate(owner)
    body = {"name": "by label", "market": "demo:BTC/USD", "kind": "dca", "timeframe": "1h"}

    created = api.post("/api/strategies/", body, format="json")

    assert created.status_code == 201, created.json()
    assert (created.json()["market"], created.json()["market_label"]) == (btc.pk, "demo:BTC/USD")
    refused = api.post("/api/strategies/", {**body, "market": "demo:X/Y"}, format="json")
    assert refused.json()["market"] == ["no such market here: 'demo:X/Y'"]
