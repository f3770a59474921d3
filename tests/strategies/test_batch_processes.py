"""A series' unit of work in a real worker: a strategy that raises fails alone; a pool process
killed mid-batch leaves each strategy one run for the tick, and no order sent twice or lost."""

from __future__ import annotations

import os
import signal

import pytest
import redis

from marketdata.models import Exchange, ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from strategies.models import Order, Strategy, StrategyRun
from tasks.scheduling.grouping import series_task_id
from tasks.strategies import execute_strategy_series
from tests.factories import StrategyFactory
from tests.faults.helpers import order_book, pool_children, recorded_orders
from tests.processes import wait_for
from tests.strategies.helpers import add_candles, live_dca, start_strategy_worker, tick

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SUCCEEDED = StrategyRun.Status.SUCCEEDED


@pytest.fixture
def market(exchange: Exchange) -> Market:
    market = exchange.markets.get(symbol="BTC/USD")
    add_candles(market, [100, 100])
    return market


def paper_dca(market: Market) -> Strategy:
    return StrategyFactory(market=market, kind="dca", parameters={"quote_amount": "10"})


def send_series(queue: str, strategies: list[Strategy]) -> str:
    """The message the beat sends for these strategies at the current hour's tick."""
    task_id = series_task_id("test", tick())
    execute_strategy_series.apply_async(
        kwargs={
            "strategy_ids": [s.pk for s in strategies],
            "scheduled_tick": tick().isoformat(),
            "series": "test",
        },
        queue=queue,
        task_id=task_id,
    )
    return task_id


def ended(strategies: list[Strategy]) -> bool:
    """Every strategy's run of the tick has ended (one query: no run inserted in between)."""
    ids = [s.pk for s in strategies]
    finished = StrategyRun.objects.filter(strategy_id__in=ids).exclude(finished_at=None)
    return finished.count() == len(ids)


def test_a_strategy_that_raises_in_a_batch_fails_alone_in_a_real_worker(market: Market) -> None:
    good = [paper_dca(market), paper_dca(market)]
    bad = StrategyFactory(market=market, kind="test_raising")
    worker, queue = start_strategy_worker(concurrency=1)
    try:
        task_id = send_series(queue, [good[0], bad, good[1]])
        wait_for(lambda: ended([*good, bad]), timeout=90, what="the batch's three runs to end")
    finally:
        worker.stop()

    failed = StrategyRun.objects.get(strategy=bad)
    assert (failed.status, failed.error_class) == (
        StrategyRun.Status.FAILED,
        "tests.strategies.plugins.StrategyBug",
    )
    assert not Order.objects.filter(strategy=bad).exists()
    for strategy in good:
        run = StrategyRun.objects.get(strategy=strategy)
        assert (run.status, run.celery_task_id) == (SUCCEEDED, task_id)
        assert Order.objects.get(strategy=strategy).status == Order.Status.FILLED
    assert "Traceback" not in worker.log()


def test_a_pool_process_killed_mid_batch_runs_each_strategy_once_and_sends_no_order_twice(
    market: Market,
    account: ExchangeAccount,
    simulator: SimulatedExchange,
    gate: str,
    redis_client: redis.Redis,
) -> None:
    simulator.add_fault("slow_create", delay=5)
    paper = [paper_dca(market), paper_dca(market)]
    gated = StrategyFactory(market=market, kind="test_gate", parameters={"gate": gate})
    live = live_dca(market, account)
    batch = [paper[0], gated, live, paper[1]]
    worker, queue = start_strategy_worker(concurrency=1)
    try:
        task_id = send_series(queue, batch)
        # Mid-batch: the gate strategy decides, the live order has left and waits for its answer.
        wait_for(lambda: redis_client.llen(f"{gate}:entered") >= 1, timeout=60, what="the gate")
        wait_for(lambda: simulator.requests("/v2/buy/"), timeout=60, what="the live order")
        [child] = pool_children(worker)
        os.kill(child, signal.SIGKILL)
        redis_client.set(f"{gate}:open", 1)
        wait_for(lambda: ended(batch), timeout=120, what="every run of the batch to end")
    finally:
        worker.stop()

    assert redis_client.llen(f"{gate}:entered") == 2  # decided again by the redelivery
    for strategy in batch:
        runs = list(
            StrategyRun.objects.filter(strategy=strategy).values_list("status", "celery_task_id")
        )
        assert runs == [(SUCCEEDED, task_id)], strategy
        assert Order.objects.filter(strategy=strategy).count() == 1, strategy
    book = order_book(simulator, live)
    assert recorded_orders(live) == book
    assert len(book) == 1
    assert len(simulator.requests("/v2/buy/")) == 1


def test_a_pool_process_killed_with_a_units_live_orders_in_flight_sends_none_twice(
    market: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    simulator.add_fault("slow_create", times=3, delay=5)  # placed, then answered 5 s later
    live = [live_dca(market, account) for _ in range(3)]
    paper = paper_dca(market)
    batch = [*live, paper]
    worker, queue = start_strategy_worker(concurrency=1)
    try:
        task_id = send_series(queue, batch)
        # Mid-unit: all three creates have left together and wait for their answers.
        wait_for(lambda: len(simulator.requests("/v2/buy/")) == 3, timeout=60, what="three creates")
        [child] = pool_children(worker)
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: ended(batch), timeout=120, what="every run of the unit to end")
    finally:
        worker.stop()

    assert len(simulator.requests("/v2/buy/")) == 3  # the redelivery looked each one up
    for strategy in batch:
        runs = list(
            StrategyRun.objects.filter(strategy=strategy).values_list("status", "celery_task_id")
        )
        assert runs == [(SUCCEEDED, task_id)], strategy
        assert Order.objects.filter(strategy=strategy).count() == 1, strategy
    for strategy in live:
        book = order_book(simulator, strategy)
        assert len(book) == 1
        assert recorded_orders(strategy) == book
