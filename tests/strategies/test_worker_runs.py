"""execute_single_strategy in real worker processes over Redis and PostgreSQL: one run per
tick however often it is delivered, a lost worker's run completed once, skips, failures,
the kill switch and paper fills."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest
import redis
from django_celery_results.models import TaskResult

from marketdata.models import Market
from strategies.models import Order, PaperPosition, StrategyRun
from tasks.strategies import execute_single_strategy
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, wait_for
from tests.strategies.helpers import add_candles, start_strategy_worker, tick

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Status = StrategyRun.Status
Worker = tuple[ManagedProcess, str]


@pytest.fixture
def market() -> Market:
    market = MarketFactory()
    add_candles(market, [100, 100])
    return market


def send(queue: str, strategy_id: int, hours_ago: int = 0, **options: object) -> object:
    return execute_single_strategy.apply_async(
        args=[strategy_id, tick(hours_ago).isoformat()], queue=queue, **options
    )


def entered(client: redis.Redis, gate: str, count: int) -> list[int]:
    """Wait until `count` processes have entered the gate; their pids."""
    wait_for(lambda: client.llen(f"{gate}:entered") >= count, what=f"{count} at {gate}")
    return [int(pid) for pid in client.lrange(f"{gate}:entered", 0, -1)]


def test_the_same_message_delivered_twice_runs_the_tick_once(
    strategy_worker: Worker, market: Market, gate: str, redis_client: redis.Redis
) -> None:
    _, queue = strategy_worker
    strategy = StrategyFactory(market=market, kind="test_gate", parameters={"gate": gate})
    first = send(queue, strategy.pk)
    entered(redis_client, gate, 1)

    # The same message again while the first delivery is still inside the run: the lease
    # is held, so the duplicate (same task id) records nothing and returns None.
    send(queue, strategy.pk, task_id=first.id)
    duplicate = wait_for(
        lambda: TaskResult.objects.filter(task_id=first.id, status="SUCCESS").first(),
        what="the duplicate delivery to finish",
    )
    redis_client.set(f"{gate}:open", 1)
    wait_for(lambda: StrategyRun.objects.filter(status=Status.SUCCEEDED).exists(), what="run")

    assert duplicate.result == "null"
    assert redis_client.llen(f"{gate}:entered") == 1
    assert StrategyRun.objects.filter(strategy=strategy).count() == 1
    assert Order.objects.filter(strategy=strategy).count() == 1


def test_two_beats_racing_for_one_tick_record_one_run(
    strategy_worker: Worker, market: Market
) -> None:
    _, queue = strategy_worker
    strategy = StrategyFactory(market=market, kind="dca", parameters={"quote_amount": "10"})

    results = [send(queue, strategy.pk), send(queue, strategy.pk)]
    outcomes = [result.get(timeout=60) for result in results]

    run = StrategyRun.objects.get(strategy=strategy)
    assert sorted(outcomes, key=bool) == [None, {"run": run.pk, "status": "succeeded"}]
    assert StrategyRun.objects.filter(strategy=strategy).count() == 1
    assert Order.objects.filter(strategy=strategy).count() == 1


def test_a_worker_killed_mid_run_completes_the_run_once_after_redelivery(
    market: Market, gate: str, redis_client: redis.Redis
) -> None:
    worker, queue = start_strategy_worker(concurrency=1)
    try:
        strategy = StrategyFactory(
            market=market, kind="test_gate", parameters={"gate": gate, "amount": "0.25"}
        )
        result = send(queue, strategy.pk)
        [killed] = entered(redis_client, gate, 1)
        assert StrategyRun.objects.get(strategy=strategy).status == Status.RUNNING

        os.kill(killed, signal.SIGKILL)
        pids = entered(redis_client, gate, 2)
        redis_client.set(f"{gate}:open", 1)
        outcome = result.get(timeout=60)
    finally:
        worker.stop()

    run = StrategyRun.objects.get(strategy=strategy)
    order = Order.objects.get(strategy=strategy)
    assert pids[1] != killed
    assert outcome == {"run": run.pk, "status": "succeeded"}
    assert run.status == Status.SUCCEEDED
    assert run.celery_task_id == result.id
    assert (order.amount, order.status) == (Decimal("0.25"), Order.Status.FILLED)
    assert PaperPosition.objects.get(strategy=strategy).base_amount == Decimal("0.25")
    assert "WorkerLostError" in worker.log() or "SIGKILL" in worker.log()


def test_a_tick_arriving_while_the_previous_run_is_in_progress_waits_and_runs_after_it(
    strategy_worker: Worker, market: Market, gate: str, redis_client: redis.Redis
) -> None:
    _, queue = strategy_worker
    strategy = StrategyFactory(market=market, kind="test_gate", parameters={"gate": gate})
    earlier = send(queue, strategy.pk, hours_ago=1)
    entered(redis_client, gate, 1)

    later = send(queue, strategy.pk)
    # It looks, finds the earlier run in progress and is retried: it waits, not skipped.
    wait_for(lambda: later.state == "RETRY", what="the later tick to wait for the earlier")
    redis_client.set(f"{gate}:open", 1)
    earlier_outcome, later_outcome = earlier.get(timeout=60), later.get(timeout=60)

    first = StrategyRun.objects.get(pk=earlier_outcome["run"])
    second = StrategyRun.objects.get(pk=later_outcome["run"])
    assert (first.status, second.status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    assert second.started_at >= first.finished_at  # one at a time, never skipped as colliding
    assert Order.objects.filter(strategy=strategy).count() == 2


def test_stale_market_data_is_skipped_in_the_worker(strategy_worker: Worker) -> None:
    _, queue = strategy_worker
    market = MarketFactory()
    add_candles(market, [100], ended_at=tick(5))
    strategy = StrategyFactory(market=market, kind="dca")

    outcome = send(queue, strategy.pk).get(timeout=60)

    run = StrategyRun.objects.get(pk=outcome["run"])
    assert run.status == Status.SKIPPED
    assert run.reason.startswith("stale market data")
    assert not Order.objects.exists()


def test_a_raising_strategy_is_a_failed_run_and_the_worker_lives_on(
    strategy_worker: Worker, market: Market
) -> None:
    worker, queue = strategy_worker
    broken = StrategyFactory(market=market, kind="test_raising")
    healthy = StrategyFactory(market=market, kind="dca")

    failed = send(queue, broken.pk).get(timeout=60)
    succeeded = send(queue, healthy.pk).get(timeout=60)

    run = StrategyRun.objects.get(pk=failed["run"])
    assert failed["status"] == "failed"
    assert run.error_class == "tests.strategies.plugins.StrategyBug"
    assert run.error_message == "cannot handle 1 candles"
    assert succeeded["status"] == "succeeded"
    assert worker.alive()


def test_a_paper_run_in_the_worker_fills_and_moves_the_position(
    strategy_worker: Worker, market: Market
) -> None:
    _, queue = strategy_worker
    strategy = StrategyFactory(market=market, kind="dca", parameters={"quote_amount": "50"})

    outcomes = [send(queue, strategy.pk, hours_ago=h).get(timeout=60) for h in (1, 0)]

    assert [o["status"] for o in outcomes] == ["succeeded", "succeeded"]
    position = PaperPosition.objects.get(strategy=strategy)
    assert position.base_amount == Decimal(1)
    assert position.quote_balance == Decimal("9899.9")  # 2 x (50 + 0.1 % fee)
    assert Order.objects.filter(strategy=strategy, status=Order.Status.FILLED).count() == 2


def test_the_kill_switch_in_the_workers_environment_skips_every_order(market: Market) -> None:
    worker, queue = start_strategy_worker(concurrency=1, TRADING_KILL_SWITCH="1")
    try:
        strategy = StrategyFactory(market=market, kind="dca")
        outcome = send(queue, strategy.pk).get(timeout=60)
    finally:
        worker.stop()

    run = StrategyRun.objects.get(pk=outcome["run"])
    assert (run.status, run.signal) == (Status.SKIPPED, "buy")
    assert run.reason == "kill switch is on: no orders are placed"
    assert not Order.objects.exists()


def test_a_missing_strategy_is_logged_and_the_task_returns(strategy_worker: Worker) -> None:
    worker, queue = strategy_worker

    outcome = execute_single_strategy.apply_async(args=[424242], queue=queue).get(timeout=60)

    assert outcome is None
    wait_for(lambda: "strategy 424242 does not exist" in worker.log(), timeout=10, what="log")


def test_a_tick_without_a_time_zone_is_refused_with_a_clear_error(
    strategy_worker: Worker, market: Market
) -> None:
    _, queue = strategy_worker
    strategy = StrategyFactory(market=market, kind="dca")
    result = execute_single_strategy.apply_async(
        args=[strategy.pk, "2026-11-28T10:00:00"], queue=queue
    )

    with pytest.raises(ValueError, match="has no time zone offset"):
        result.get(timeout=60)
    assert not StrategyRun.objects.exists()
