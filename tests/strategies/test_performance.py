"""Performance figures against hand-computed values, and the chart's bounded downsampling."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from marketdata.models import Candle
from strategies.chart import MAX_BUCKETS, candles_downsampled, strategy_chart
from strategies.models import Strategy
from strategies.performance import EquityPoint, max_drawdown, strategy_performance
from tests.factories import StrategyFactory
from tests.strategies.scripted import (
    START,
    live_scripted,
    scripted,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db


def test_pnl_of_buys_partial_sells_and_fees_matches_the_hand_computed_figures(
    scripted: Strategy,  # noqa: F811
) -> None:
    performance = strategy_performance(strategy=scripted)

    assert performance.starting_capital == Decimal(10_000)
    assert performance.base_amount == Decimal(1)
    assert performance.quote_balance == Decimal("9899.44")
    # FIFO: both sells closed the first lot (2 @ 100); the 1 @ 130 lot is held.
    assert performance.average_entry_price == Decimal("130")
    assert performance.fees_paid == Decimal("0.56")
    assert performance.last_price == Decimal(150)
    # Sell 1.5 @ 120 of the 2 @ 100 lot: 180 - 150 - 0.15 - 0.18 = 29.67;
    # sell 0.5 @ 100 of its rest: 50 - 50 - 0.05 - 0.05 = -0.10.
    assert performance.realized_pnl == Decimal("29.57")
    assert performance.unrealized_pnl == Decimal("19.87")  # 1 x 150 - 130 - its fee 0.13
    assert performance.equity == Decimal("10049.44")
    assert performance.total_pnl == Decimal("49.44")
    assert (performance.trades, performance.wins, performance.win_rate) == (2, 1, Decimal("0.5"))


def test_max_drawdown_is_the_largest_fall_from_a_peak_of_the_equity_curve(
    scripted: Strategy,  # noqa: F811
) -> None:
    performance = strategy_performance(strategy=scripted)

    # Peak 10059.67 after the second buy (marked at 130), trough 9999.44 after the last sell.
    assert performance.max_drawdown == Decimal("0.0060")
    assert [point.equity for point in performance.equity_curve][:4] == [
        Decimal("9999.8"),
        Decimal("10059.67"),
        Decimal("10029.49"),
        Decimal("9999.44"),
    ]


def test_max_drawdown_of_a_plain_curve() -> None:
    curve = [EquityPoint(START, Decimal(value)) for value in (100, 120, 90, 130, 117)]

    assert max_drawdown(curve) == Decimal("0.25")


def test_equity_is_marked_at_the_given_prices_between_fills(
    scripted: Strategy,  # noqa: F811
) -> None:
    prices = [(START + timedelta(minutes=30), Decimal(110))]

    performance = strategy_performance(strategy=scripted, prices=prices)

    # After the first buy only: 9799.8 quote + 2 x 110.
    assert EquityPoint(prices[0][0], Decimal("10019.8")) in performance.equity_curve


def test_a_strategy_without_fills_or_prices_shows_its_capital_and_no_pnl() -> None:
    strategy = StrategyFactory()

    performance = strategy_performance(strategy=strategy)

    assert performance.starting_capital == Decimal(10_000)
    assert performance.total_pnl is None
    assert performance.trades == 0
    assert performance.win_rate is None
    assert performance.max_drawdown == 0


def test_live_equity_comes_from_the_synced_balances_and_pnl_from_the_fills() -> None:
    synced_at = START + timedelta(hours=2, minutes=30)  # after the first sell, before the last
    strategy = live_scripted(("BTC", "3.5", synced_at), ("USD", "1000", synced_at))

    performance = strategy_performance(strategy=strategy)

    # Before the fills up to the sync: 3.5 - 2 - 1 + 1.5 = 2 BTC and
    # 1000 + 200.2 + 130.13 - 179.82 = 1150.51 USD. The last sell adds 49.95 USD.
    assert performance.balances == {"BTC": Decimal("3.5"), "USD": Decimal(1000)}
    assert performance.balances_synced_at == synced_at
    assert performance.base_amount == Decimal(1)  # the strategy's own position
    assert performance.quote_balance == Decimal("1049.95")
    assert performance.equity == Decimal("1499.95")  # 1049.95 + (2 + 1) x 150
    assert performance.starting_capital == Decimal("1450.51")  # 1150.51 + 2 x 150
    assert performance.total_pnl == Decimal("49.44")  # the same fills as the paper script
    assert (performance.realized_pnl, performance.unrealized_pnl) == (
        Decimal("29.57"),
        Decimal("19.87"),
    )
    # Marked at each fill: 950.31 + 4 x 100, 820.18 + 5 x 130, 1000 + 3.5 x 120,
    # 1049.95 + 3 x 100, then the last price.
    assert [point.equity for point in performance.equity_curve] == [
        Decimal("1350.31"),
        Decimal("1470.18"),
        Decimal("1420"),
        Decimal("1349.95"),
        Decimal("1499.95"),
    ]
    assert performance.max_drawdown == Decimal("0.0818")  # (1470.18 - 1349.95) / 1470.18


def test_an_asset_missing_from_the_latest_sync_counts_as_zero() -> None:
    synced_at = START + timedelta(hours=2, minutes=30)
    strategy = live_scripted(("USD", "1000", START), ("BTC", "3.5", synced_at))

    performance = strategy_performance(strategy=strategy)

    # 0 + 330.33 - 179.82 = 150.51 USD before the fills; 49.95 after them all.
    assert performance.starting_capital == Decimal("450.51")  # 150.51 + 2 x 150
    assert performance.equity == Decimal("499.95")  # 49.95 + 3 x 150
    assert performance.total_pnl == Decimal("49.44")


def test_live_without_a_balance_sync_starts_from_zero_capital() -> None:
    strategy = live_scripted()

    performance = strategy_performance(strategy=strategy)

    assert performance.starting_capital == 0
    assert performance.balances_synced_at is None
    assert performance.quote_balance == Decimal("-100.56")  # -200.2 - 130.13 + 179.82 + 49.95
    assert performance.equity == performance.total_pnl == Decimal("49.44")


MINUTE_CANDLES_SQL = """
INSERT INTO {table} (market_id, timeframe, open_time, open, high, low, close, volume, is_closed)
SELECT %s, '1m', %s + n * interval '1 minute', n, n + 2, n - 2, n + 1, 1, true
FROM generate_series(0, %s) AS n
"""


def insert_minute_candles(strategy: Strategy, *, days: int) -> None:
    """A year of 1-minute candles in one statement: close rises by 1 a minute, high +2, low -2."""
    with connection.cursor() as cursor:
        cursor.execute(
            MINUTE_CANDLES_SQL.format(table=Candle._meta.db_table),
            [strategy.market_id, START, days * 1440 - 1],
        )
        # Statistics as autovacuum keeps them for a table this size; the test's transaction
        # never commits, so without this the planner would take the table for empty.
        cursor.execute(f"ANALYZE {Candle._meta.db_table}")


def test_a_year_of_minute_candles_answers_with_a_bounded_number_of_ohlc_preserving_bars() -> None:
    strategy = StrategyFactory(timeframe="1m")
    insert_minute_candles(strategy, days=365)
    last_open = START + timedelta(minutes=365 * 1440 - 1)

    bars = candles_downsampled(
        market_id=strategy.market_id, timeframe="1m", since=START, until=last_open
    )

    assert 900 <= len(bars) <= MAX_BUCKETS
    assert bars[0].open == 0
    assert bars[-1].close == 365 * 1440
    assert min(bar.low for bar in bars) == -2
    assert max(bar.high for bar in bars) == 365 * 1440 + 1
    assert sum(bar.volume for bar in bars) == 365 * 1440
    assert all(bar.low <= min(bar.open, bar.close) <= bar.high for bar in bars)


def test_the_chart_marks_signals_on_their_tick_and_paper_fills_on_the_candle_of_their_price(
    scripted: Strategy,  # noqa: F811
) -> None:
    chart = strategy_chart(strategy=scripted)

    assert [bar["close"] for bar in chart["bars"]] == [100.0, 130.0, 120.0, 100.0, 140.0, 150.0]
    assert [signal["signal"] for signal in chart["signals"]] == ["buy", "buy", "sell", "sell"]
    # A paper fill is priced at the close of the candle that closed at its tick: the hour
    # before. The first fill's candle (before START) is not stored, so it is not drawn.
    assert [fill["side"] for fill in chart["fills"]] == ["buy", "sell", "sell"]
    tick = int((START + timedelta(hours=2)).timestamp())
    assert chart["fills"][1] == {
        "time": tick - 3600,
        "filled_at": tick,
        "side": "sell",
        "amount": 1.5,
        "price": 120.0,
        "bar_time": tick - 3600,
    }
