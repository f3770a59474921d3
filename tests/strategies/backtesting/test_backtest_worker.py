"""`run_backtest` in a real worker on the `backtests` queue: progress, results as the engine
computes them, trades stored, cancellation, a paper strategy from the result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis

from marketdata.models import Market
from strategies.backtesting.candles import candles_load
from strategies.backtesting.engine import backtest_run, candles_required
from strategies.backtesting.models import Backtest
from strategies.backtesting.running import spec_of
from strategies.backtesting.services import (
    backtest_cancel,
    backtest_create,
    backtest_of_strategy,
    strategy_from_backtest,
)
from strategies.models import Strategy
from tests.factories import MarketFactory, StrategyFactory, UserFactory
from tests.processes import ManagedProcess, start_celery_worker, wait_for
from tests.strategies.backtesting.series import walk_closes
from tests.strategies.helpers import add_candles

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ENDED = datetime(2025, 3, 1, tzinfo=UTC)
HOURS = 2000


@pytest.fixture(scope="module")
def backtests_worker(django_db_setup: None) -> Iterator[ManagedProcess]:
    """A worker on the `backtests` queue only, as the Procfiles' `backtests` line starts it."""
    worker = start_celery_worker(concurrency=1, queues="backtests")
    yield worker
    worker.stop()


@pytest.fixture
def market() -> Market:
    market = MarketFactory()
    add_candles(market, walk_closes(HOURS, seed=3), timeframe="1h", ended_at=ENDED)
    return market


def period(hours: int = HOURS - 100) -> dict[str, datetime]:
    return {"start": ENDED - timedelta(hours=hours), "end": ENDED}


def finished(backtest: Backtest) -> Backtest | None:
    backtest.refresh_from_db()
    return backtest if backtest.is_finished else None


def test_a_backtest_runs_on_its_queue_and_stores_what_the_engine_computes(
    backtests_worker: ManagedProcess, market: Market
) -> None:
    owner = UserFactory()
    data = {"market": market, "timeframe": "1h", "kind": "sma_crossover", "backfill": False}
    backtest = backtest_create(owner=owner, data={**data, **period()})

    wait_for(lambda: finished(backtest), timeout=120, what="the backtest to finish")

    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    spec = spec_of(backtest)
    expected = backtest_run(
        spec,
        candles_load(
            market_id=market.pk, timeframe="1h", warmup=candles_required(spec), **period()
        ),
    )
    assert backtest.trades_hash == expected.trades_hash
    assert backtest.figures == expected.figures
    assert backtest.progress_pct == 100
    assert backtest.candles_done == backtest.candles_total == expected.candles > HOURS - 100
    assert [(f.tick, f.side, f.amount, f.price, f.fee) for f in backtest.fills.all()] == [
        (f.time, f.side, f.amount, f.price, f.fee) for f in expected.fills
    ]
    assert backtest.trades.count() == len(expected.trades) > 5
    assert backtest.celery_task_id


def test_a_running_backtest_is_cancelled_at_its_next_step(
    backtests_worker: ManagedProcess, market: Market, gate: str, redis_client: redis.Redis
) -> None:
    backtest = backtest_create(
        owner=UserFactory(),
        data={"market": market, "timeframe": "1h", "kind": "test_gate",
              "parameters": {"gate": gate}, "backfill": False, **period()},
    )  # fmt: skip
    wait_for(lambda: redis_client.llen(f"{gate}:entered"), what="the backtest to decide")

    backtest_cancel(backtest=backtest)
    redis_client.set(f"{gate}:open", 1)

    wait_for(lambda: finished(backtest), timeout=60, what="the backtest to stop")
    assert backtest.status == Backtest.Status.CANCELLED
    assert backtest.progress_pct < 100
    assert not backtest.fills.exists()


def test_a_strategy_backtests_and_its_result_becomes_a_paper_strategy(
    backtests_worker: ManagedProcess, market: Market
) -> None:
    owner = UserFactory()
    strategy = StrategyFactory(
        owner=owner, market=market, timeframe="1h", kind="rsi_thresholds",
        parameters={"period": 5}, interval_seconds=7200, max_orders_per_day=3,
    )  # fmt: skip
    backtest = backtest_of_strategy(
        owner=owner, strategy=strategy, data={**period(), "backfill": False}
    )
    wait_for(lambda: finished(backtest), timeout=120, what="the backtest to finish")

    created = strategy_from_backtest(owner=owner, backtest=backtest, name="From the backtest")

    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    assert backtest.strategy == strategy
    assert backtest.ticks == (HOURS - 100) // 2  # every two hours, as its interval says
    assert created.from_backtest == backtest
    assert (created.mode, created.is_active, created.kind) == (
        Strategy.Mode.PAPER,
        False,
        "rsi_thresholds",
    )
    assert created.parameters == backtest.used_parameters
    assert created.parameters["period"] == 5
    assert (created.interval_seconds, created.max_orders_per_day) == (7200, 3)
    assert Decimal(backtest.figures["fees"]) >= 0
