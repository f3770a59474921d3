"""A scripted strategy: four fills at known prices and fees, an hour apart, for the figures'
tests (performance, the strategy page, the API) to check against values computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from marketdata.models import BalanceSnapshot
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from tests.factories import ExchangeAccountFactory, StrategyFactory
from tests.strategies.helpers import add_candles

START = datetime(2026, 1, 5, tzinfo=UTC)
# (side, amount, price, fee), oldest first: two buys, a winning partial sell, a losing one.
SCRIPT = [
    ("buy", "2", "100", "0.2"),
    ("buy", "1", "130", "0.13"),
    ("sell", "1.5", "120", "0.18"),
    ("sell", "0.5", "100", "0.05"),
]


def script_fills(strategy: Strategy) -> None:
    """The scripted orders, filled an hour apart, as the engine records them."""
    for hour, (side, amount, price, fee) in enumerate(SCRIPT):
        tick = START + timedelta(hours=hour)
        run = StrategyRun.objects.create(
            strategy=strategy, scheduled_tick=tick, status="succeeded", signal=side
        )
        order = Order.objects.create(
            strategy=strategy,
            run=run,
            mode=strategy.mode,
            side=side,
            amount=Decimal(amount),
            price=Decimal(price),
            filled_amount=Decimal(amount),
            average_price=Decimal(price),
            fee=Decimal(fee),
            status=Order.Status.FILLED,
            client_order_id=f"s{strategy.pk}-{hour}",
        )
        Order.objects.filter(pk=order.pk).update(created_at=tick)


@pytest.fixture
def scripted() -> Strategy:
    """A paper strategy that started with 10,000 quote and traded the script; last price 150."""
    strategy = StrategyFactory(timeframe="1h")
    script_fills(strategy)
    # By hand: 10000 - 200.2 - 130.13 + 179.82 + 49.95 = 9899.44 quote, 3 - 2 = 1 base.
    PaperPosition.objects.create(
        strategy=strategy,
        base_amount=Decimal(1),
        quote_balance=Decimal("9899.44"),
        average_entry_price=Decimal("110"),
        fees_paid=Decimal("0.56"),
    )
    add_candles(
        strategy.market, [100, 130, 120, 100, 140, 150], ended_at=START + timedelta(hours=6)
    )
    return strategy


def live_scripted(*balances: tuple[str, str, datetime]) -> Strategy:
    """A live strategy that traded the script, its account synced with these (asset, total,
    taken at); last price 150."""
    account = ExchangeAccountFactory()
    strategy = StrategyFactory(mode="live", account=account, owner=account.owner, timeframe="1h")
    script_fills(strategy)
    for asset, total, taken_at in balances:
        BalanceSnapshot.objects.create(
            account=account, asset=asset, free=total, used=0, total=total, taken_at=taken_at
        )
    add_candles(strategy.market, [150], ended_at=START + timedelta(hours=6))
    return strategy
