"""Live orders through real ccxt against the simulated exchange: one client order id, one order."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from marketdata import exchanges
from marketdata.models import Exchange, ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from strategies.execution import strategy_execute
from strategies.models import Order, StrategyRun
from strategies.orders import client_order_id, live_order_send
from tasks.strategies import execute_single_strategy
from tests.factories import ExchangeAccountFactory
from tests.strategies.helpers import (
    add_candles,
    live_dca,
    order_written,
    place_at_exchange,
    start_strategy_worker,
    tick,
)

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db

Status = StrategyRun.Status


@pytest.fixture
def btc(exchange: Exchange) -> Market:
    market = exchange.markets.get(symbol="BTC/USD")
    add_candles(market, [100, 100])
    return market


def test_a_live_run_places_one_order_under_its_client_order_id(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    strategy = live_dca(btc, account)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    order = Order.objects.get(strategy=strategy)
    at_exchange = exchanges.fetch_order_by_client_id(
        account=account, symbol="BTC/USD", client_order_id=order.client_order_id
    )
    assert run.status == Status.SUCCEEDED
    assert order.client_order_id == client_order_id(strategy_id=strategy.pk, tick=tick())
    assert (order.status, order.filled_amount) == (Order.Status.FILLED, Decimal("0.1"))
    assert order.exchange_order_id == at_exchange.exchange_order_id
    assert order.average_price == at_exchange.average_price
    assert len(simulator.requests("/v2/buy/")) == 1


def test_a_create_that_times_out_is_found_by_its_client_order_id_and_not_resent(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange, settings: Settings
) -> None:
    settings.EXCHANGE_TIMEOUT_MS = 1000
    simulator.add_fault("slow_create", delay=2.5)
    strategy = live_dca(btc, account)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    order = Order.objects.get(strategy=strategy)
    assert run.status == Status.SUCCEEDED
    assert order.status == Order.Status.FILLED
    assert order.exchange_order_id
    assert len(simulator.requests("/v2/buy/")) == 1


def test_an_order_that_left_before_its_worker_died_is_recorded_not_sent_again(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    strategy = live_dca(btc, account)
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick())
    order = order_written(strategy, run)
    place_at_exchange(order, account)

    recorded = live_order_send(order)

    assert recorded.status == Order.Status.FILLED
    assert recorded.exchange_order_id
    assert len(simulator.requests("/v2/buy/")) == 1


def test_an_exchange_that_will_not_answer_leaves_the_order_new_and_unsent_twice(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    strategy = live_dca(btc, account)
    simulator.add_fault("server_error", times=None)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    order = Order.objects.get(strategy=strategy)
    assert run.status == Status.FAILED
    assert run.error_class == "OrderUnconfirmed"
    assert order.status == Order.Status.NEW
    assert len(simulator.requests("/v2/buy/")) == 0


def test_insufficient_funds_rejects_the_order_once_and_fails_the_run(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    strategy = live_dca(btc, account, quote_amount="100000000")

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    order = Order.objects.get(strategy=strategy)
    assert run.status == Status.FAILED
    assert run.error_class == "OrderNotSent"
    assert order.status == Order.Status.REJECTED
    assert len(simulator.requests("/v2/buy/")) == 1


def test_refused_keys_fail_the_run_and_flag_the_account(
    btc: Market, exchange: Exchange, simulator: SimulatedExchange
) -> None:
    wrong = ExchangeAccountFactory(exchange=exchange, api_key="key-1", api_secret="not-it")
    strategy = live_dca(btc, wrong)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    wrong.refresh_from_db()
    assert run.status == Status.FAILED
    assert Order.objects.get(strategy=strategy).status == Order.Status.REJECTED
    assert wrong.status == ExchangeAccount.Status.NEEDS_ATTENTION
    assert "not-it" not in run.error_message


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_resolves_a_timed_out_create_by_client_order_id_with_one_order(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    worker, queue = start_strategy_worker(concurrency=1, EXCHANGE_TIMEOUT_MS="1000")
    simulator.add_fault("slow_create", delay=2.5)
    strategy = live_dca(btc, account)
    try:
        result = execute_single_strategy.apply_async(
            args=[strategy.pk, tick().isoformat()], queue=queue
        )
        outcome = result.get(timeout=60)
    finally:
        worker.stop()

    order = Order.objects.get(strategy=strategy)
    assert outcome["status"] == Status.SUCCEEDED
    assert order.status == Order.Status.FILLED
    assert len(simulator.requests("/v2/buy/")) == 1
    assert len(simulator.requests("/v2/order_status/")) >= 1
