"""Live strategies of a batch: their orders are in flight together (one event loop, at most
EXCHANGE_CONCURRENCY at once, within the shared rate limit), each with its client order id,
each recorded as the exchange answers it; one failing stops none of the others, and a unit
delivered again sends no order twice. Through real ccxt and the simulated exchange."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from marketdata.models import Exchange, ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from strategies.batch import BatchReport, series_execute
from strategies.models import Order, Strategy, StrategyRun
from strategies.orders import client_order_id
from tests.factories import ExchangeAccountFactory
from tests.faults.helpers import order_book, recorded_orders
from tests.strategies.helpers import (
    add_candles,
    live_dca,
    order_written,
    place_at_exchange,
    tick,
)

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db

Status = StrategyRun.Status
TASK_ID = "series_live@test"
CREATES = "/v2/buy/"
DELAY = 3.0  # seconds each create's answer is held back
LATENCY = 1.0  # seconds the simulator takes for every request


@pytest.fixture
def btc(exchange: Exchange) -> Market:
    market = exchange.markets.get(symbol="BTC/USD")
    add_candles(market, [100, 100])
    return market


def run_unit(strategies: list[Strategy]) -> BatchReport:
    return series_execute(
        strategy_ids=[s.pk for s in strategies],
        scheduled_tick=tick(),
        task_id=TASK_ID,
        trigger="schedule",
    )


def assert_one_order_each_recorded(
    strategies: list[Strategy], simulator: SimulatedExchange
) -> None:
    for strategy in strategies:
        run = StrategyRun.objects.get(strategy=strategy)
        assert (run.status, run.celery_task_id) == (Status.SUCCEEDED, TASK_ID)
        order = Order.objects.get(strategy=strategy)
        assert order.client_order_id == client_order_id(strategy_id=strategy.pk, tick=tick())
        assert order.status == Order.Status.FILLED
        book = order_book(simulator, strategy)
        assert len(book) == 1
        assert recorded_orders(strategy) == book


def test_a_batchs_live_orders_are_in_flight_together_each_sent_once_and_recorded(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    simulator.add_fault("slow_create", times=3, delay=DELAY)
    strategies = [live_dca(btc, account) for _ in range(3)]

    report = run_unit(strategies)

    creates = sorted(arrived for arrived, _, _ in simulator.requests(CREATES))
    assert len(creates) == 3
    # One after another, each create would wait for the answer of the one before (DELAY).
    assert creates[-1] - creates[0] < DELAY
    assert sorted(report.single) == sorted(s.pk for s in strategies)
    assert_one_order_each_recorded(strategies, simulator)


def test_n_live_strategies_of_a_unit_send_n_orders_at_once(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange, settings: Settings
) -> None:
    settings.EXCHANGE_CONCURRENCY = 8
    strategies = [live_dca(btc, account) for _ in range(6)]
    simulator.latency = LATENCY  # each order: a lookup, the create, its read-back

    started = time.monotonic()
    run_unit(strategies)
    took = time.monotonic() - started

    assert simulator.most_in_flight(CREATES) == 6
    # One order after another: 6 orders x 3 requests x LATENCY = 18 s.
    assert took < 6 * 3 * LATENCY / 2
    assert_one_order_each_recorded(strategies, simulator)


def test_never_more_orders_in_flight_than_the_exchange_bound(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange, settings: Settings
) -> None:
    settings.EXCHANGE_CONCURRENCY = 2
    strategies = [live_dca(btc, account) for _ in range(5)]
    simulator.latency = LATENCY / 2

    run_unit(strategies)

    assert simulator.most_in_flight("/api/v2/") == 2
    assert_one_order_each_recorded(strategies, simulator)


def test_a_units_live_orders_keep_the_exchanges_shared_rate_limit(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange, settings: Settings
) -> None:
    spacing = 0.25
    settings.EXCHANGE_RATE_LIMITS = {btc.exchange.name: int(spacing * 1000)}
    strategies = [live_dca(btc, account) for _ in range(4)]
    before = len(simulator.requests())  # the markets' load

    run_unit(strategies)

    arrivals = sorted(arrived for arrived, _, _ in simulator.requests()[before:])
    assert len(arrivals) == 4 * 3
    # The limiter spaces the requests' slots; a request sent a moment after its slot (the
    # first, which opens the connection) shortens one gap, never the whole span.
    assert arrivals[-1] - arrivals[0] > (len(arrivals) - 1) * spacing * 0.8
    assert_one_order_each_recorded(strategies, simulator)


def test_an_order_the_exchange_refuses_fails_its_run_alone(
    btc: Market,
    exchange: Exchange,
    account: ExchangeAccount,
    simulator: SimulatedExchange,
) -> None:
    wrong = ExchangeAccountFactory(exchange=exchange, api_key="key-1", api_secret="not-it")
    refused = live_dca(btc, wrong)
    poor = live_dca(btc, account, quote_amount="10000000")  # more than the account holds
    placed = [live_dca(btc, account) for _ in range(3)]

    run_unit([refused, *placed, poor])

    for strategy in (refused, poor):
        run = StrategyRun.objects.get(strategy=strategy)
        assert (run.status, run.error_class) == (Status.FAILED, "OrderNotSent")
        assert Order.objects.get(strategy=strategy).status == Order.Status.REJECTED
        assert order_book(simulator, strategy) == {}
    wrong.refresh_from_db()
    assert wrong.status == ExchangeAccount.Status.NEEDS_ATTENTION
    assert_one_order_each_recorded(placed, simulator)


def test_a_unit_delivered_again_sends_no_order_twice(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    # As a worker killed mid-unit left it: one order left before the kill, one never did,
    # one run had not decided yet, and one strategy's run was never claimed.
    left, unsent, undecided, unclaimed = [live_dca(btc, account) for _ in range(4)]
    for strategy in (left, unsent, undecided):
        run = StrategyRun.objects.create(
            strategy=strategy, scheduled_tick=tick(), celery_task_id=TASK_ID
        )
        if strategy is undecided:
            continue
        order = order_written(strategy, run)
        if strategy is left:
            place_at_exchange(order, account)
    strategies = [left, unsent, undecided, unclaimed]

    redelivered = run_unit(strategies)
    again = run_unit(strategies)  # and a duplicate of it, after it ended

    assert sorted(redelivered.single) == sorted(s.pk for s in strategies)
    assert sorted(again.idle) == sorted(s.pk for s in strategies)
    assert len(simulator.requests(CREATES)) == 4  # one per strategy, the first one included
    assert_one_order_each_recorded(strategies, simulator)
