"""Defaults that fit the strategy: no orders-per-day cap unless the owner sets one, so a 1m
strategy trades every minute of the day; the API and the admin take the cap empty."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from strategies.execution import strategy_execute
from strategies.models import Order, Strategy, StrategyRun
from strategies.services import strategy_create
from tests.factories import MarketFactory, UserFactory
from tests.strategies.helpers import add_candles

pytestmark = pytest.mark.django_db

MINUTES_A_DAY = 1440


def test_a_1m_paper_strategy_with_default_settings_is_not_capped_below_1440_runs_a_day() -> None:
    market = MarketFactory()
    minute = timezone.now().replace(second=0, microsecond=0)
    add_candles(market, [100], timeframe="1m", ended_at=minute)
    data = {"name": "every minute", "market": market, "timeframe": "1m", "kind": "dca"}
    strategy = strategy_create(owner=UserFactory(), data={**data, "parameters": {}})
    strategy.is_active = True
    strategy.save(update_fields=["is_active"])
    _orders_placed_today(strategy, MINUTES_A_DAY - 1)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=minute)

    assert strategy.max_orders_per_day is None
    assert (run.status, run.reason) == (StrategyRun.Status.SUCCEEDED, "")
    assert Order.objects.filter(strategy=strategy).count() == MINUTES_A_DAY


def _orders_placed_today(strategy: Strategy, count: int) -> None:
    """`count` filled orders of earlier runs, all placed since midnight UTC."""
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(days=2)
    runs = StrategyRun.objects.bulk_create(
        StrategyRun(strategy=strategy, scheduled_tick=start + timedelta(minutes=n), status=done)
        for n in range(count)
        for done in ["succeeded"]
    )
    Order.objects.bulk_create(
        Order(strategy=strategy, run=run, mode="paper", side="buy", amount=1, price=100,
              filled_amount=1, average_price=100, status="filled", client_order_id=f"x-{run.pk}")
        for run in runs
    )  # fmt: skip
