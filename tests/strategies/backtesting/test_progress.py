"""A backtest's progress counts the candles the replay has read, as it reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from project.kernel.scheduling import IntervalTrigger
from strategies.backtesting.engine import BacktestSpec, backtest_run
from tests.strategies.backtesting.series import candles_of, period_of, walk_closes


@pytest.mark.parametrize("fast", [True, False])
def test_progress_reports_the_candles_read_by_the_tick_reached(fast: bool) -> None:
    candles = candles_of(walk_closes(1000))
    start, _ = period_of(candles)
    # Every 5 minutes of the clock (00:05 to 11:40) over the first 700 candles' period: the
    # last 300 candles are never read.
    end = start + timedelta(minutes=700)
    spec = BacktestSpec("dca", {}, "1m", start, end, trigger=IntervalTrigger(300), fast=fast)
    seen: list[tuple[int, int]] = []

    result = backtest_run(spec, candles, progress=lambda done, total: seen.append((done, total)))

    # The last tick, at 11:40, reads the candles closed by it: 700 of them.
    assert result.candles == 700
    assert seen[-1] == (700, 700)
    assert {total for _, total in seen} == {700}
    dones = [done for done, _ in seen]
    assert dones == sorted(dones)
    assert 90 <= len(seen) <= 141  # about every 1% of the 140 ticks, and at the end
    # Each count is what a tick on the 5-minute grid reads: the candles closed by then.
    assert all(done % 5 == 0 for done in dones)
    assert dones[0] < 20
