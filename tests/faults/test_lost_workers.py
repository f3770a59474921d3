"""Workers lost mid live run (a platform's SIGTERM then SIGKILL, a pool process SIGKILLed, its
database session crashed): the run finishes once, its order says what the exchange's order
book says, and the ticks after it run instead of being skipped as "still in progress"."""

from __future__ import annotations

import os
import re
import signal

import pytest

from marketdata.models import ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from strategies.models import StrategyRun
from tasks.recovery import recover_runs
from tests.faults.helpers import (
    FAULTS,
    crash_backend,
    database_back,
    kill_with_grace,
    lease_holder,
    order_book,
    pool_children,
    recorded_orders,
    runs_described,
    runs_per_tick,
    send,
)
from tests.processes import start_celery_worker, wait_for
from tests.strategies.helpers import live_dca, start_strategy_worker, tick

pytestmark = FAULTS

SUCCEEDED = StrategyRun.Status.SUCCEEDED


def order_left(simulator: SimulatedExchange) -> None:
    """The create is at the exchange (filled there); its answer is held back."""
    wait_for(lambda: simulator.requests("/v2/buy/"), timeout=60, what="the order to leave")


@pytest.mark.parametrize(
    ("grace", "settled_by"),
    [(2.0, "next tick"), (0.0, "sweep")],
    ids=["sigterm-then-sigkill-next-tick", "sigkill-sweep"],
)
def test_a_worker_lost_mid_live_run_is_settled_from_the_order_book_once(
    btc: Market,
    account: ExchangeAccount,
    simulator: SimulatedExchange,
    grace: float,
    settled_by: str,
) -> None:
    simulator.add_fault("slow_create", delay=30)
    strategy = live_dca(btc, account)
    lost, queue = start_strategy_worker(concurrency=1)
    try:
        first = send(queue, strategy, tick(1))
        order_left(simulator)
        # With a grace, the worker may hand the message back as it shuts down; without, the
        # message waits for Redis's visibility timeout (an hour), and the run for the sweep.
        kill_with_grace(lost, grace=grace)
    finally:
        lost.stop()
    stuck = StrategyRun.objects.get(strategy=strategy)

    worker = start_celery_worker(concurrency=1, queues=queue)
    try:
        if settled_by == "sweep":
            wait_for(
                lambda: recover_runs.apply_async(queue=queue).get(timeout=60)["runs"],
                timeout=90,
                what="the sweep to settle the run",
            )
        after = send(queue, strategy, tick(0)).get(timeout=90)
        # The lost message again (Redis would redeliver it after its visibility timeout). The
        # one a SIGTERM handed back has run by now (one process, and `after` came after it).
        seen = len(worker.log())
        send(queue, strategy, tick(1), task_id=first.id)
        late = wait_for(
            lambda: re.search(rf"\[{first.id}\] succeeded in [0-9.]+s: (.*)", worker.log()[seen:]),
            timeout=60,
            what="the late redelivery to finish",
        )
    finally:
        worker.stop()

    book = order_book(simulator, strategy)
    assert stuck.status == StrategyRun.Status.RUNNING
    assert after["status"] == SUCCEEDED, runs_described(strategy)
    assert late.group(1) == "None"  # it found its tick's run settled: it recorded nothing
    assert runs_per_tick(strategy) == {tick(1): [SUCCEEDED], tick(0): [SUCCEEDED]}
    assert recorded_orders(strategy) == book
    assert len(book) == 2
    assert all(state[0] == "filled" for state in book.values())
    assert len(simulator.requests("/v2/buy/")) == 2


def test_a_pool_process_killed_mid_live_run_finishes_it_once_and_the_next_tick_runs(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    simulator.add_fault("slow_create", delay=30)
    strategy = live_dca(btc, account)
    worker, queue = start_strategy_worker(concurrency=1)
    try:
        send(queue, strategy, tick(1))
        order_left(simulator)
        [child] = pool_children(worker)
        os.kill(child, signal.SIGKILL)
        send(queue, strategy, tick(0))
        wait_for(
            lambda: StrategyRun.objects.filter(strategy=strategy, status=SUCCEEDED).count() == 2,
            timeout=90,
            what="both ticks to end",
        )
    finally:
        worker.stop()

    book = order_book(simulator, strategy)
    assert runs_per_tick(strategy) == {tick(1): [SUCCEEDED], tick(0): [SUCCEEDED]}
    assert recorded_orders(strategy) == book
    assert sorted(state[0] for state in book.values()) == ["filled", "filled"]
    assert len(simulator.requests("/v2/buy/")) == 2


def test_a_database_backend_crash_mid_live_run_is_settled_by_the_next_tick(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange, embedded_postgres: object
) -> None:
    simulator.add_fault("slow_create", delay=4)
    strategy = live_dca(btc, account)
    worker, queue = start_strategy_worker(concurrency=1)
    try:
        send(queue, strategy, tick(1))
        order_left(simulator)
        run = StrategyRun.objects.get(strategy=strategy)
        crash_backend(wait_for(lambda: lease_holder(run), what="the run's lease holder"))
        database_back()
        wait_for(
            lambda: f"run {run.pk} of strategy {strategy.pk} failed" in worker.log(),
            timeout=60,
            what="the run to fail on its lost session",
        )
        stuck = StrategyRun.objects.get(strategy=strategy)
        after = send(queue, strategy, tick(0)).get(timeout=90)
    finally:
        worker.stop()

    book = order_book(simulator, strategy)
    assert stuck.status == StrategyRun.Status.RUNNING  # it could not record its own end
    assert after["status"] == SUCCEEDED
    assert runs_per_tick(strategy) == {tick(1): [SUCCEEDED], tick(0): [SUCCEEDED]}
    assert recorded_orders(strategy) == book
    assert len(book) == 2
