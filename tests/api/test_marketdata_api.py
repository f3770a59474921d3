"""Exchanges, markets, candles and balances over the API: filters, paging, owner scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from marketdata.models import BalanceSnapshot, Candle, ExchangeAccount, Market
from tests.factories import ExchangeAccountFactory, ExchangeFactory, MarketFactory

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def candles(market: Market, timeframe: str, count: int, step: timedelta) -> None:
    Candle.objects.bulk_create(
        Candle(
            market=market,
            timeframe=timeframe,
            open_time=T0 + step * n,
            open=Decimal(n),
            high=Decimal(n + 1),
            low=Decimal(n),
            close=Decimal(n),
            volume=Decimal(1),
        )
        for n in range(count)
    )


def snapshot(account: ExchangeAccount, asset: str, total: int, minutes: int) -> None:
    BalanceSnapshot.objects.create(
        account=account,
        asset=asset,
        free=total,
        used=0,
        total=total,
        taken_at=T0 + timedelta(minutes=minutes),
    )


def test_exchanges_and_markets_are_listed_and_filtered(api: APIClient) -> None:
    btc = MarketFactory(exchange=ExchangeFactory(name="sim"))
    MarketFactory(exchange=btc.exchange, base="ETH")
    MarketFactory(exchange=ExchangeFactory(name="other"), active=False)

    exchanges = api.get("/api/exchanges/").json()
    on_sim = api.get("/api/markets/", {"exchange": btc.exchange_id}).json()
    by_symbol = api.get("/api/markets/", {"exchange": btc.exchange_id, "symbol": "ETH/USD"}).json()
    inactive = api.get("/api/markets/", {"active": "false"}).json()

    assert [e["name"] for e in exchanges["results"]] == ["other", "sim"]
    assert on_sim["count"] == 2
    assert [m["symbol"] for m in by_symbol["results"]] == ["ETH/USD"]
    assert [m["exchange"] for m in inactive["results"]] == [ExchangeFactory(name="other").pk]


def test_candles_filter_by_market_timeframe_and_time_range(api: APIClient) -> None:
    market, elsewhere = MarketFactory(), MarketFactory(base="ETH")
    candles(market, "1h", 48, timedelta(hours=1))
    candles(market, "1d", 2, timedelta(days=1))
    candles(elsewhere, "1h", 5, timedelta(hours=1))

    response = api.get(
        "/api/candles/",
        {
            "market": market.pk,
            "timeframe": "1h",
            "start": (T0 + timedelta(hours=10)).isoformat(),
            "end": (T0 + timedelta(hours=20)).isoformat(),
        },
    )

    rows = response.json()["results"]
    assert response.status_code == 200
    assert len(rows) == 10
    assert rows[0]["open_time"] == "2026-01-01T10:00:00Z"
    assert rows[-1]["open_time"] == "2026-01-01T19:00:00Z"
    assert {r["market"] for r in rows} == {market.pk}
    assert rows[0]["close"] == "10.000000000000"


def test_candles_page_by_cursor_without_gaps_or_repeats(api: APIClient) -> None:
    market = MarketFactory()
    candles(market, "1m", 25, timedelta(minutes=1))

    seen: list[str] = []
    page = api.get("/api/candles/", {"market": market.pk, "page_size": 10}).json()
    while True:
        seen += [row["open_time"] for row in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()

    assert len(seen) == 25
    assert seen == sorted(set(seen))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"timeframe": "10m"}, "timeframe"),
        ({"market": "abc"}, "market"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
    ],
)
def test_bad_candle_filters_are_400_naming_the_parameter(
    api: APIClient, query: dict[str, str], field: str
) -> None:
    response = api.get("/api/candles/", query)

    assert response.status_code == 400
    assert field in response.json()


def test_balances_show_the_latest_per_asset_of_own_accounts_only(
    api: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    mine = ExchangeAccountFactory(owner=user)
    theirs = ExchangeAccountFactory(owner=other_user)
    snapshot(mine, "BTC", 1, 0)
    snapshot(mine, "BTC", 2, 10)
    snapshot(mine, "USD", 500, 5)
    snapshot(theirs, "BTC", 99, 20)

    latest = api.get("/api/balances/").json()
    asked_for_theirs = api.get("/api/balances/", {"account": theirs.pk}).json()

    assert latest["count"] == 2
    assert {(r["asset"], r["total"]) for r in latest["results"]} == {
        ("BTC", "2.000000000000"),
        ("USD", "500.000000000000"),
    }
    assert asked_for_theirs["results"] == []


def test_balance_history_is_newest_first_within_a_range(
    api: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    mine = ExchangeAccountFactory(owner=user)
    for minute in range(0, 60, 10):
        snapshot(mine, "BTC", minute, minute)
    snapshot(ExchangeAccountFactory(owner=other_user), "BTC", 7, 15)

    response = api.get(
        "/api/balances/history/",
        {"asset": "BTC", "start": (T0 + timedelta(minutes=10)).isoformat()},
    )

    totals = [r["total"] for r in response.json()["results"]]
    assert response.status_code == 200
    assert totals == [f"{m}.000000000000" for m in (50, 40, 30, 20, 10)]


def test_staff_see_balances_of_every_account(
    staff_api: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    snapshot(ExchangeAccountFactory(owner=user), "BTC", 1, 0)
    snapshot(ExchangeAccountFactory(owner=other_user), "BTC", 2, 0)

    assert staff_api.get("/api/balances/").json()["count"] == 2


def test_reads_and_writes_are_limited_only_on_writes(api: APIClient, settings: object) -> None:
    settings.REST_FRAMEWORK = {  # type: ignore[attr-defined]
        **settings.REST_FRAMEWORK,  # type: ignore[attr-defined]
        "DEFAULT_THROTTLE_RATES": {"writes": "3/minute"},
    }
    exchange = ExchangeFactory()

    writes = [
        api.post(
            "/api/accounts/",
            {"exchange": exchange.pk, "label": f"a{n}", "api_key": "k", "api_secret": "s"},
            format="json",
        ).status_code
        for n in range(5)
    ]
    reads = [api.get("/api/accounts/").status_code for _ in range(5)]

    assert writes == [201, 201, 201, 429, 429]
    assert reads == [200] * 5
    assert ExchangeAccount.objects.count() == 3
