"""Run now: a real worker runs the strategy at once, besides the tick that already ran."""

from __future__ import annotations

import pytest

from strategies.execution import strategy_execute
from strategies.models import StrategyRun
from strategies.services import strategy_run_now, strategy_start
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, wait_for
from tests.strategies.helpers import add_candles

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_run_now_after_the_scheduled_tick_ran_makes_a_second_run(
    celery_worker: ManagedProcess,
) -> None:
    market = MarketFactory()
    add_candles(market, [100, 101, 102])
    strategy = strategy_start(strategy=StrategyFactory(market=market, kind="dca"))
    scheduled = strategy_execute(strategy_id=strategy.pk)

    strategy_run_now(strategy=strategy)
    finished = StrategyRun.objects.filter(strategy=strategy, finished_at__isnull=False)
    wait_for(lambda: finished.count() == 2, what="the run-now run to finish")

    runs = list(finished)
    assert scheduled is not None
    assert {run.status for run in runs} == {StrategyRun.Status.SUCCEEDED}
    assert len({run.scheduled_tick for run in runs}) == 2
    assert strategy.orders.count() == 2
    assert sorted(run.trigger for run in runs) == ["run_now", "schedule"]
