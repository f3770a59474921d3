"""A backfill longer than one page on Kraken's recorded OHLC answers: each page is clipped to
its window, so the overlap Kraken sends (everything after `since`) is dropped, not refused.

The payload is ccxt's recording (tests/fixtures/exchanges/kraken.json, from ccxt/ccxt
ts/src/test/static/response/kraken.json at the commit noted there), served by tests/replay.py
for every `since`, as Kraken answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from marketdata.models import Candle, Exchange, Market
from marketdata.services import markets_sync
from strategies.backtesting.history import Gap, candle_gaps, candles_backfill
from tests.factories import ExchangeFactory
from tests.replay import ReplayServer, fixture

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


@pytest.fixture
def recorded() -> dict[str, Any]:
    return fixture("kraken")


@pytest.fixture
def replay(recorded: dict[str, Any]) -> Iterator[ReplayServer]:
    server = ReplayServer(recorded["routes"]).start()
    yield server
    server.stop()


@pytest.fixture
def market(recorded: dict[str, Any], replay: ReplayServer, fast_retries: Settings) -> Market:
    exchange: Exchange = ExchangeFactory(name="kraken", ccxt_id="kraken", api_url=replay.url)
    fast_retries.EXCHANGE_RATE_LIMITS = {exchange.name: 0}
    markets_sync(exchange_id=exchange.pk)
    return Market.objects.get(exchange=exchange, symbol=recorded["symbol"])


def test_a_backfill_of_many_pages_on_kraken_stores_each_candle_once(
    market: Market, recorded: dict[str, Any], replay: ReplayServer, settings: Settings
) -> None:
    settings.MARKETDATA_PAGE_LIMIT = 2  # 25 pages of two hours; Kraken sends all six each time
    expected = recorded["expect"]["candles"]
    start = datetime.fromtimestamp(expected[0][0] / 1000, UTC)
    end = datetime.fromtimestamp(expected[-1][0] / 1000, UTC) + HOUR
    seen: list[tuple[int, int]] = []

    stored = candles_backfill(
        market_id=market.pk,
        timeframe="1h",
        start=start,
        end=end,
        progress=lambda done, total: seen.append((done, total)),
    )

    rows = Candle.objects.filter(market=market, timeframe="1h").order_by("open_time")
    assert [[c.open_time, c.open, c.high, c.low, c.close, c.volume, c.is_closed] for c in rows] == [
        [datetime.fromtimestamp(r[0] / 1000, UTC), *(Decimal(v) for v in r[1:6]), True]
        for r in expected
    ]
    assert stored == len(expected)
    assert len(replay.sent("/0/public/OHLC")) == 25
    assert seen == [(10, 25), (20, 25), (25, 25)]  # progress after each batch of pages
    # What Kraken does not have stays a gap; asking again fetches only that.
    assert candle_gaps(market_id=market.pk, timeframe="1h", start=start, end=end) == [
        Gap(datetime.fromtimestamp(expected[4][0] / 1000, UTC) + HOUR,
            datetime.fromtimestamp(expected[5][0] / 1000, UTC)),
    ]  # fmt: skip
