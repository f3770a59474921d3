"""The backtest's ticks are the trigger's, and at each it reads the candles a live run reads."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, ticks_between
from strategies.backtesting.grid import closed_counts, tick_grid, tick_time
from strategies.selectors import newest_closed_open
from tests.strategies.backtesting.series import START, candles_of, walk_closes


@settings(max_examples=50, deadline=None)
@given(
    seconds=st.integers(min_value=1, max_value=7200),
    offset=st.integers(min_value=0, max_value=86_400),
    length=st.integers(min_value=0, max_value=3 * 86_400),
)
def test_an_interval_grid_is_the_ticks_next_tick_gives(seconds, offset, length) -> None:
    trigger = IntervalTrigger(seconds)
    start = START + timedelta(seconds=offset)
    end = start + timedelta(seconds=length)

    grid = [tick_time(s) for s in tick_grid(trigger, start=start, end=end)]

    assert grid == list(ticks_between(trigger, start, end))


def test_a_crontab_grid_is_its_fire_times_across_a_dst_change() -> None:
    trigger = CrontabTrigger.parse("30 1-3 * * *", "Europe/Berlin")
    start, end = START.replace(month=3, day=28), START.replace(month=4, day=2)

    grid = [tick_time(s) for s in tick_grid(trigger, start=start, end=end)]

    assert grid == list(ticks_between(trigger, start, end))
    # Three a day; the 02:30 that spring-forward skips on March 30th fires once, at 03:30.
    assert len(grid) == 5 * 3
    assert grid == sorted(set(grid))


@settings(max_examples=50, deadline=None)
@given(
    timeframe=st.sampled_from(["1m", "5m", "1h"]),
    ticks=st.lists(st.integers(min_value=-3600, max_value=400 * 3600), min_size=1, max_size=40),
)
def test_each_tick_reads_the_candles_closed_by_it_as_a_live_run_does(timeframe, ticks) -> None:
    candles = candles_of(walk_closes(500), timeframe=timeframe)
    moments = np.asarray(sorted(ticks), dtype=np.int64) + int(START.timestamp())

    counts = closed_counts(candles, moments)

    for moment, count in zip(moments.tolist(), counts.tolist(), strict=True):
        newest = newest_closed_open(tick=tick_time(moment), timeframe=timeframe)
        assert count == sum(1 for bar in candles.bars if bar.open_time <= newest)
