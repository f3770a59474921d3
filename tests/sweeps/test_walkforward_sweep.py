"""A walk-forward sweep on a real worker: each fold's best in-sample set, its out-of-sample
result and the verdict, checked against single backtests of every window."""

from __future__ import annotations

import pytest

from strategies.engine import get_strategy_class
from strategies.sweeps.engine import objective_value
from strategies.sweeps.models import Sweep
from strategies.sweeps.planning import sweep_folds
from strategies.sweeps.selectors import sweep_folds_report
from strategies.sweeps.services import sweep_create
from strategies.sweeps.space import grid_sets, space_parse
from strategies.sweeps.walkforward import fold_verdict
from tests.factories import MarketFactory, UserFactory
from tests.processes import start_celery_worker
from tests.sweeps.helpers import candles_add, closes_path, single_backtest, sweep_data, wait_sweep

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SPACE = {"fast": {"values": [2, 3, 5]}, "slow": {"values": [10, 20]}}


def by_hand(sweep: Sweep, fold_index: int) -> tuple[dict, float, float]:
    """The fold's best in-sample set and both its figures, from single backtests."""
    fold = sweep_folds(sweep)[fold_index]
    kind = get_strategy_class(sweep.kind)
    scored = []
    for parameters in grid_sets(kind, space_parse(kind, SPACE)):
        figures, _ = single_backtest(sweep, parameters, (fold.in_start, fold.in_end))
        scored.append((objective_value(sweep.objective, figures), parameters))
    best_value, best = max(scored, key=lambda pair: pair[0])
    out, _ = single_backtest(sweep, best, (fold.out_start, fold.out_end))
    return best, best_value, objective_value(sweep.objective, out)


def test_each_folds_out_of_sample_result_and_verdict_match_single_backtests() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(1040, seed=3))
    data = sweep_data(market, hours=1040, space=SPACE, folds=6, fold_ratio=4)
    worker = start_celery_worker(concurrency=2, queues="backtests")
    try:
        sweep = sweep_create(owner=UserFactory(), data=data)
        wait_sweep(sweep.pk)
    finally:
        worker.stop()

    reports = sweep_folds_report(sweep=sweep)
    assert len(reports) == 6
    assert sweep.sets.filter(window__startswith="oos").count() == 6
    for report in reports:
        best, in_value, out_value = by_hand(sweep, report.index)
        fold = sweep_folds(sweep)[report.index]
        verdict = fold_verdict(
            objective=sweep.objective, in_value=in_value, out_value=out_value, fold=fold, share=0.5
        )
        assert report.best.parameters["fast"] == best["fast"]
        assert report.best.parameters["slow"] == best["slow"]
        assert report.best.value == in_value
        assert report.out_of_sample.value == out_value
        assert report.verdict == verdict
