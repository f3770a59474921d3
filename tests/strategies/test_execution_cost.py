"""What one execution costs the database: a fixed, small number of statements, and the guard
that keeps the one-statement paper fill as safe as the locked one."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from project.kernel.locks import LockPurpose, lock_key
from strategies.execution import strategy_execute
from strategies.models import Order, PaperPosition, StrategyRun
from strategies.orders import client_order_id, paper_order_fill_ending_run
from strategies.runs import run_end
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import database_url
from tests.strategies.helpers import add_candles, tick

pytestmark = pytest.mark.django_db

# Claim the run (with the strategy and market; giving the previous run's lease back), read the
# inputs, write the outcome.
STATEMENTS_PER_PAPER_EXECUTION = 3


@pytest.mark.parametrize("has_position", [False, True], ids=["first-fill", "position-held"])
def test_a_paper_execution_takes_three_statements(has_position: bool) -> None:
    market = MarketFactory()
    add_candles(market, [100, 110])
    strategy = StrategyFactory(market=market, kind="dca", parameters={"quote_amount": "110"})
    if has_position:
        PaperPosition.objects.create(strategy=strategy, base_amount=Decimal(1))

    with CaptureQueriesContext(connection) as captured:
        run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="t1")

    assert run.status == StrategyRun.Status.SUCCEEDED
    assert Order.objects.get(run=run).status == Order.Status.FILLED
    assert PaperPosition.objects.get(strategy=strategy).base_amount == 1 + int(has_position)
    assert len(captured.captured_queries) == STATEMENTS_PER_PAPER_EXECUTION


def test_a_one_statement_fill_writes_nothing_if_the_position_moved_since_it_was_read() -> None:
    market = MarketFactory()
    strategy = StrategyFactory(market=market, kind="dca")
    read = PaperPosition.objects.create(strategy=strategy, base_amount=Decimal(1))
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick())
    PaperPosition.objects.filter(pk=read.pk).update(base_amount=Decimal(5))  # e.g. a reset
    order = Order(
        strategy=strategy,
        run=run,
        mode="paper",
        side="buy",
        amount=Decimal(1),
        price=Decimal(100),
        client_order_id=client_order_id(strategy_id=strategy.pk, tick=tick()),
    )

    ended = run_end(run, StrategyRun.Status.SUCCEEDED, signal="buy")
    written = paper_order_fill_ending_run(order, position=read, run=run, ended=ended)

    run.refresh_from_db()
    assert written is False
    assert not Order.objects.exists()
    assert run.status == StrategyRun.Status.RUNNING
    assert PaperPosition.objects.get(pk=read.pk).base_amount == 5


def test_an_ended_runs_lease_is_given_back_by_the_next_claim() -> None:
    market = MarketFactory()
    add_candles(market, [100])
    first, second = (StrategyFactory(market=market, kind="dca") for _ in range(2))
    ended = strategy_execute(strategy_id=first.pk, scheduled_tick=tick())
    key = lock_key(LockPurpose.RUN_LEASE, ended.pk)

    held_after_the_run = not _lock_free(key)
    strategy_execute(strategy_id=second.pk, scheduled_tick=tick())
    free_after_the_next_claim = _lock_free(key)

    assert ended.status == StrategyRun.Status.SUCCEEDED
    assert held_after_the_run
    assert free_after_the_next_claim


def _lock_free(key: tuple[int, int]) -> bool:
    """Whether another session can take the lock (it gives it back at once)."""
    with psycopg.connect(database_url(), autocommit=True) as other:
        taken = other.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]
        other.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    return taken
