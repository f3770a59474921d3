"""A backtest pauses the cyclic garbage collector, yet a `decide()` that leaves cycles behind
does not grow its memory: they are collected as the replay goes."""

from __future__ import annotations

import gc

from strategies.backtesting.engine import BacktestSpec, backtest_run
from tests.strategies.backtesting.series import candles_of, period_of, walk_closes
from tests.strategies.plugins import CyclicStrategy


def test_the_cycles_a_decide_leaves_are_collected_during_the_run() -> None:
    candles = candles_of(walk_closes(3000))
    start, end = period_of(candles)
    CyclicStrategy.alive.clear()
    CyclicStrategy.most_alive = 0

    result = backtest_run(BacktestSpec("test_cyclic", {}, "1m", start, end), candles)

    assert result.decided > 2900
    # Collected every 1% of the ticks: about 30 alive at most, never the 3,000 made.
    assert CyclicStrategy.most_alive < 100
    assert gc.isenabled()  # as it was before the run
