"""Market data lists show decimals without the padding zeros of their 12 stored places."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from marketdata.models import Candle, Watchlist
from tests.factories import MarketFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


def test_the_candle_list_shows_plain_prices_so_its_columns_fit() -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("c", "c@example.com", "pw-1234"))
    price = Decimal("57527.66")
    Candle.objects.create(
        market=MarketFactory(),
        timeframe="1m",
        open_time=timezone.now(),
        open=price,
        high=price,
        low=Decimal("57000.5"),
        close=price,
        volume=Decimal("0.00000001"),
    )

    html = client.get("/admin/marketdata/candle/", secure=True).content.decode()

    assert ">57527.66<" in html
    assert ">57000.5<" in html
    assert ">0.00000001<" in html
    assert "57527.660000000000" not in html


def test_the_watchlist_counts_its_entries_in_plain_english() -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("w", "w@example.com", "pw-1234"))
    market = MarketFactory()
    for timeframe in ("1m", "5m", "1h", "1d"):
        Watchlist.objects.create(market=market, timeframe=timeframe)

    html = client.get("/admin/marketdata/watchlist/", secure=True).content.decode()

    assert "4 watchlist entries" in html
