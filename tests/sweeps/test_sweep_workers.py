"""Sweeps on real backtest workers: results equal single backtests; a killed worker loses and
repeats no set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from strategies.backtesting.candles import candles_load
from strategies.backtesting.engine import BacktestSpec, backtest_run
from strategies.engine import get_strategy_class
from strategies.ordering import MarketRules
from strategies.sweeps.models import Sweep, SweepSet
from strategies.sweeps.services import sweep_create
from tests.factories import MarketFactory, UserFactory
from tests.processes import ManagedProcess, start_celery_worker
from tests.sweeps.helpers import candles_add, closes_path, sweep_data, wait_sweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backtest_worker() -> Iterator[ManagedProcess]:
    worker = start_celery_worker(concurrency=2, queues="backtests")
    yield worker
    worker.stop()


def single_backtest(sweep: Sweep, row: SweepSet) -> tuple[dict, str]:
    """The set backtested alone, as a backtest of its own would: its own candles and warmup."""
    parameters = get_strategy_class(sweep.kind).clean_parameters(row.parameters)
    spec = BacktestSpec(
        kind=sweep.kind,
        parameters=parameters,
        timeframe=sweep.timeframe,
        start=sweep.start,
        end=sweep.end,
        capital=sweep.capital,
        fee_rate=sweep.fee_rate,
        rules=MarketRules.from_market(sweep.market),
    )
    candles = candles_load(
        market_id=sweep.market_id,
        timeframe=sweep.timeframe,
        start=sweep.start,
        end=sweep.end,
        warmup=parameters["slow"] + 1,
    )
    result = backtest_run(spec, candles)
    return result.figures, result.trades_hash


def test_every_set_of_a_sweep_equals_its_single_backtest(backtest_worker: ManagedProcess) -> None:
    market = MarketFactory()
    candles_add(market, closes_path(700))
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(market, hours=700))

    wait_sweep(sweep.pk)

    rows = list(SweepSet.objects.filter(sweep=sweep))
    assert len(rows) == 4 * 5  # every fast is below every slow: none refused
    assert {row.evaluations for row in rows} == {1}
    traded = [row for row in rows if row.figures["trades"] > 0]
    assert len(traded) > len(rows) // 2
    for row in rows:
        figures, trades_hash = single_backtest(sweep, row)
        assert row.figures["trades_hash"] == trades_hash, row.parameters
        assert {k: v for k, v in row.figures.items() if k != "trades_hash"} == figures
