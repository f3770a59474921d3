"""A paper run computes its order as the exchange would: the market's amount step, price tick
and minimums, money in the quote currency's places (strategies.ordering, through the worker's
own code path)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from marketdata.models import Market
from strategies.execution import strategy_execute
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.orders import client_order_id, paper_order_fill_ending_run, paper_order_send
from strategies.runs import run_end
from tests.factories import StrategyFactory
from tests.strategies.helpers import add_candles, tick
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


def test_the_one_statement_fill_and_the_locked_fill_write_the_same_numbers(btc_usd) -> None:
    """The fast path (one statement) and the slow one (position locked) beside each other."""
    fast, slow = (dca(btc_usd, "100") for _ in range(2))
    for strategy in (fast, slow):
        PaperPosition.objects.create(
            strategy=strategy, base_amount=Decimal("0.0016"), quote_balance=Decimal("9904.29")
        )
    fast_order, slow_order = (_new_order(strategy) for strategy in (fast, slow))
    fast_run = fast_order.run

    ended = run_end(fast_run, StrategyRun.Status.SUCCEEDED, signal="buy")
    position = PaperPosition.objects.get(strategy=fast)
    assert paper_order_fill_ending_run(fast_order, position=position, run=fast_run, ended=ended)
    with transaction.atomic():
        paper_order_send(slow_order)

    numbers = ("amount", "average_price", "fee", "filled_amount", "status")
    assert _values(fast_order, numbers) == _values(slow_order, numbers)
    assert fast_order.fee == Decimal("0.06")  # 0.0010 x 60000.00 = 60.00, 0.1 %
    amounts = ("base_amount", "quote_balance", "average_entry_price", "fees_paid")
    fast_after, slow_after = (PaperPosition.objects.get(strategy=s) for s in (fast, slow))
    assert _values(fast_after, amounts) == _values(slow_after, amounts)
    assert fast_after.quote_balance == Decimal("9844.23")


def _new_order(strategy: Strategy) -> Order:
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick())
    return Order(
        strategy=strategy,
        run=run,
        mode="paper",
        side="buy",
        amount=Decimal("0.0010"),
        price=Decimal("60000.004"),  # rounded to the tick: 60000.00
        client_order_id=client_order_id(strategy_id=strategy.pk, tick=tick()),
    )


def _values(row: object, names: tuple[str, ...]) -> tuple[object, ...]:
    row.refresh_from_db()  # type: ignore[attr-defined]
    return tuple(getattr(row, name) for name in names)
