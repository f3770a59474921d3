"""A paper run computes its order as the exchange would: the market's amount step, price tick
and minimums, money in the quote currency's places (strategies.ordering, through the worker's
own code path)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketdata.models import Market
from strategies.execution import strategy_execute
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from tests.factories import StrategyFactory
from tests.strategies.conftest import add_candles, tick
from tests.strategies.markets import btc_usd_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc_usd() -> Market:
    return btc_usd_market()


def dca(market: Market, quote_amount: str) -> Strategy:
    return StrategyFactory(market=market, kind="dca", parameters={"quote_amount": quote_amount})


def test_a_paper_buy_is_sized_and_charged_at_the_markets_precision(btc_usd, settings) -> None:
    settings.PAPER_FEE_RATE = Decimal("0.001")
    add_candles(btc_usd, ["59700", "59755.40"])
    strategy = dca(btc_usd, "100")

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == StrategyRun.Status.SUCCEEDED
    order = Order.objects.get(run=run)
    # 100 / 59755.40 truncated to 0.0016; 95.60864 -> 95.61; fee 0.09561 -> 0.10.
    assert (order.amount, order.average_price, order.fee) == (
        Decimal("0.0016"),
        Decimal("59755.40"),
        Decimal("0.10"),
    )
    position = PaperPosition.objects.get(strategy=strategy)
    assert (position.quote_balance, position.fees_paid) == (Decimal("9904.29"), Decimal("0.10"))


def test_a_signal_under_the_minimum_cost_is_skipped_with_the_reason(btc_usd) -> None:
    add_candles(btc_usd, ["59755.40"])
    strategy = dca(btc_usd, "5")

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == StrategyRun.Status.SKIPPED
    # 5 / 59755.40 = 0.0000836744..., named with four significant digits.
    assert run.reason == "order of 0.00008367 BTC is below the market's minimum amount 0.0001"
    assert not Order.objects.filter(strategy=strategy).exists()
