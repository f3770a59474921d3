"""What one execution costs the database: a fixed, small number of statements, and the guard
that keeps the one-statement paper fill as safe as the locked one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from strategies.execution import strategy_execute
from strategies.models import Order, PaperPosition, StrategyRun
from strategies.orders import client_order_id, paper_order_fill_ending_run
from tests.factories import MarketFactory, StrategyFactory
from tests.strategies.conftest import add_candles, tick

pytestmark = pytest.mark.django_db

# Claim the run (with the strategy and market), read the inputs, write the outcome, and
# give the lease back.
STATEMENTS_PER_PAPER_EXECUTION = 4


@pytest.mark.parametrize("has_position", [False, True], ids=["first-fill", "position-held"])
def test_a_paper_execution_takes_four_statements(has_position: bool) -> None:
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

    written = paper_order_fill_ending_run(order, position=read, run=run)

    run.refresh_from_db()
    assert written is False
    assert not Order.objects.exists()
    assert run.status == StrategyRun.Status.RUNNING
    assert PaperPosition.objects.get(pk=read.pk).base_amount == 5
