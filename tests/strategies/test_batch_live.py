"""Live strategies of a batch: their orders are in flight together, each with its client order
id, each recorded as the exchange answers it; through real ccxt and the simulated exchange."""

from __future__ import annotations

import pytest

from marketdata.models import Exchange, ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from strategies.batch import series_execute
from strategies.models import Order, StrategyRun
from strategies.orders import client_order_id
from tests.faults.helpers import order_book, recorded_orders
from tests.strategies.helpers import add_candles, live_dca, tick

# The live runs take sessions of their own threads: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

DELAY = 3.0  # seconds each create's answer is held back


@pytest.fixture
def btc(exchange: Exchange) -> Market:
    market = exchange.markets.get(symbol="BTC/USD")
    add_candles(market, [100, 100])
    return market


def test_a_batchs_live_orders_are_in_flight_together_each_sent_once_and_recorded(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    simulator.add_fault("slow_create", times=3, delay=DELAY)
    strategies = [live_dca(btc, account) for _ in range(3)]

    report = series_execute(
        strategy_ids=[s.pk for s in strategies],
        scheduled_tick=tick(),
        task_id="series_live@test",
        trigger="schedule",
    )

    creates = sorted(arrived for arrived, _, _ in simulator.requests("/v2/buy/"))
    assert len(creates) == 3
    # One after another, each create would wait for the answer of the one before (DELAY).
    assert creates[-1] - creates[0] < DELAY
    assert sorted(report.single) == sorted(s.pk for s in strategies)
    for strategy in strategies:
        run = StrategyRun.objects.get(strategy=strategy)
        assert (run.status, run.celery_task_id) == (
            StrategyRun.Status.SUCCEEDED,
            "series_live@test",
        )
        order = Order.objects.get(strategy=strategy)
        assert order.client_order_id == client_order_id(strategy_id=strategy.pk, tick=tick())
        assert recorded_orders(strategy) == order_book(simulator, strategy)
