"""Test helpers: a market with the rules an exchange states, and an order written before them."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone

from project.kernel.decimals import PrecisionMode
from strategies.models import Order, StrategyRun
from tests.factories import MarketFactory

if TYPE_CHECKING:
    from marketdata.models import Market
    from strategies.models import Strategy


def btc_usd_market() -> Market:
    """BTC/USD as a tick-size exchange states it through ccxt: 0.0001 BTC, cents, $10 minimum."""
    return MarketFactory(
        precision={"amount": 0.0001, "price": 0.01},
        limits={"amount": {"min": 0.0001}, "cost": {"min": 10}},
        precision_mode=PrecisionMode.TICK_SIZE,
    )


def order_with_twelve_places(strategy: Strategy) -> Order:
    """A filled order as the old house-wide 12 places wrote it (before strategies.ordering)."""
    run = StrategyRun.objects.create(
        strategy=strategy, scheduled_tick=timezone.now(), status="succeeded"
    )
    return Order.objects.create(
        strategy=strategy,
        run=run,
        mode="paper",
        side="buy",
        amount=Decimal("0.001673477001"),
        price=Decimal("59755.4"),
        filled_amount=Decimal("0.001673477001"),
        average_price=Decimal("59755.4"),
        fee=Decimal("0.099999999981"),
        status="filled",
        client_order_id="tw-old",
    )
