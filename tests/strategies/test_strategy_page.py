"""The strategy page: staff only, the service's figures, chart data, runs in pages."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from strategies.models import Strategy, StrategyRun
from strategies.page_figures import Places, places_of
from tests.factories import MarketFactory, StrategyFactory, UserFactory
from tests.strategies.helpers import add_candles
from tests.strategies.scripted import (
    START,
    live_scripted,
    scripted,  # noqa: F401 - fixture
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("desk", is_staff=True))
    return client


def page_of(strategy: Strategy) -> str:
    return f"/strategies/{strategy.pk}/"


def test_the_page_shows_the_figures_of_the_performance_service(
    staff: Client,
    scripted: Strategy,  # noqa: F811
) -> None:
    response = staff.get(page_of(scripted), secure=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<dt>P&amp;L</dt><dd>49.44</dd>" in html
    assert "<dt>Win rate</dt><dd>50.0%</dd>" in html
    assert "out of all closed trades" in html  # the win rate's definition
    assert "<dt>Fees</dt><dd>0.56</dd>" in html
    assert "lightweight-charts.standalone.production.js" in html


def test_a_live_strategys_page_shows_the_equity_of_its_synced_account(staff: Client) -> None:
    synced_at = START + timedelta(hours=2, minutes=30)
    strategy = live_scripted(("BTC", "3.5", synced_at), ("USD", "1000", synced_at))

    html = staff.get(page_of(strategy), secure=True).content.decode()

    assert "<dt>Equity</dt><dd>1,499.95</dd>" in html
    assert "<dt>Starting capital</dt><dd>1,450.51</dd>" in html
    assert "<dt>P&amp;L</dt><dd>49.44</dd>" in html
    assert "Account balances: BTC 3.5, USD 1000 (synced" in html


def test_the_page_carries_bars_markers_and_the_equity_curve_for_the_chart(
    staff: Client,
    scripted: Strategy,  # noqa: F811
) -> None:
    response = staff.get(page_of(scripted), secure=True)

    chart = json.loads(json.dumps(response.context["chart"]))
    assert len(chart["bars"]) == 6
    assert len(chart["fills"]) == 3  # the first fill's candle is before the stored ones
    assert chart["equity"][-1]["value"] == 10049.44
    times = [point["time"] for point in chart["equity"]]
    assert times == sorted(set(times))


def test_the_page_is_for_staff_only(scripted: Strategy) -> None:  # noqa: F811
    client = Client()
    client.force_login(UserFactory(is_staff=False))

    response = client.get(page_of(scripted), secure=True)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_runs_come_in_pages_without_counting_them(staff: Client) -> None:
    strategy = StrategyFactory()
    now = timezone.now().replace(second=0, microsecond=0)
    StrategyRun.objects.bulk_create(
        StrategyRun(strategy=strategy, scheduled_tick=now - timedelta(minutes=n), status="skipped")
        for n in range(51)
    )

    first = staff.get(page_of(strategy), secure=True)
    second = staff.get(page_of(strategy) + "?page=2", secure=True)

    assert len(first.context["runs"]) == 50
    assert first.context["has_next"]
    assert "older &rarr;" in first.content.decode()
    assert len(second.context["runs"]) == 1
    assert not second.context["has_next"]


def test_a_strategy_without_candles_says_so(staff: Client) -> None:
    response = staff.get(page_of(StrategyFactory()), secure=True)

    assert response.status_code == 200
    assert "No candles of this market and timeframe yet" in response.content.decode()


def test_the_equity_charts_last_point_and_the_last_price_line_are_the_cards_figures(
    staff: Client,
    scripted: Strategy,  # noqa: F811
) -> None:
    response = staff.get(page_of(scripted), secure=True)

    chart = response.context["chart"]
    cards = {label: text for label, text, _ in response.context["figures"]}
    assert f"{chart['equity'][-1]['value']:,.2f}" == cards["Equity"] == "10,049.44"
    assert f"{chart['last_price']:,.2f}" == cards["Last price"] == "150.00"


def test_the_trade_list_shows_the_open_trade_then_round_trips_newest_first(
    staff: Client,
    scripted: Strategy,  # noqa: F811
) -> None:
    response = staff.get(page_of(scripted), secure=True)

    rows = response.context["trades"]
    assert [row["is_open"] for row in rows] == [True, False, False]
    assert (rows[0]["entry_price"], rows[0]["exit_price"], rows[0]["profit"]) == (
        "130.00",
        "150.00",
        "19.87",
    )
    assert (rows[2]["profit"], rows[2]["profit_pct"], rows[2]["duration"]) == (
        "29.67",
        "19.76%",
        "2 h 00 min",
    )
    assert rows[1]["profit"] == "-0.10"
    html = response.content.decode()
    assert '<table id="trades">' in html
    assert "<td>19.76%</td>" in html


def test_run_now_on_the_page_queues_a_run_of_an_active_strategy(staff: Client) -> None:
    strategy = StrategyFactory()

    response = staff.post(f"{page_of(strategy)}run-now/", secure=True, follow=True)

    assert response.redirect_chain == [(page_of(strategy), 302)]
    assert "Queued to run now" in response.content.decode()


def test_run_now_of_a_stopped_strategy_says_why_not(staff: Client) -> None:
    strategy = StrategyFactory(is_active=False)

    response = staff.post(f"{page_of(strategy)}run-now/", secure=True, follow=True)

    assert "Not run: strategy" in response.content.decode()
    assert "start it first" in response.content.decode()


@pytest.mark.parametrize(
    ("precision", "mode", "shown"),
    [
        ({"price": "0.01", "amount": "0.00000001"}, 4, Places(money=2, base=8)),  # BTC/USD, ticks
        ({"price": "0.000001", "amount": "0.0001"}, 4, Places(money=6, base=4)),  # ETH/BTC
        ({"price": 1, "amount": 8}, 2, Places(money=1, base=8)),  # Kraken: decimal places
        ({"price": 5, "amount": 5}, 3, Places()),  # significant digits: the defaults
        ({}, 4, Places()),
    ],
)
def test_prices_and_amounts_are_shown_with_their_markets_places(
    precision: dict, mode: int, shown: Places
) -> None:
    market = MarketFactory.build(precision=precision, precision_mode=mode)

    assert places_of(market) == shown


def test_a_btc_quoted_strategy_shows_its_money_to_the_markets_tick(staff: Client) -> None:
    market = MarketFactory(
        base="ETH", quote="BTC", precision={"price": "0.000001", "amount": "0.0001"}
    )
    strategy = StrategyFactory(market=market, timeframe="1h")
    add_candles(market, [Decimal("0.052345")], ended_at=START + timedelta(hours=1))

    response = staff.get(page_of(strategy), secure=True)

    cards = {label: text for label, text, _ in response.context["figures"]}
    assert cards["Last price"] == "0.052345"
    assert cards["Starting capital"] == "10,000.000000"
