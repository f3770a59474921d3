"""A backtest decides and fills at exactly the ticks where a live run would: one rule, two forms."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from marketdata.models import TIMEFRAME_DURATIONS
from strategies.backtesting.grid import closed_counts, tick_time
from strategies.backtesting.replay import tradable_ticks
from strategies.candle_rules import price_fresh
from strategies.execution import market_data_problem
from tests.strategies.backtesting.series import START, candles_of, walk_closes


@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h"])
@pytest.mark.parametrize("needed", [1, 7, 20, 21])
def test_a_backtest_decides_and_fills_where_a_live_run_would(timeframe, needed) -> None:
    # 20 candles; ticks from before the first to long after the last (none, few, fresh, stale).
    candles = candles_of(walk_closes(20), timeframe=timeframe)
    duration = TIMEFRAME_DURATIONS[timeframe]
    start = int(START.timestamp())
    step_s = int(duration.total_seconds())
    # Every sixtieth of a timeframe from three before the first candle to twenty after the
    # last: no candle, too few, fresh, stale, on the candle grid and between.
    ticks = start + np.arange(-180, 2400, dtype=np.int64) * step_s // 60
    counts = closed_counts(candles, ticks)

    usable, tradable = tradable_ticks(candles, ticks, counts, needed=needed)

    for tick, count, decides, fills in zip(
        ticks.tolist(), counts.tolist(), usable.tolist(), tradable.tolist(), strict=True
    ):
        window = list(candles.bars[:count])[-needed:]  # what a live run at the tick reads
        moment = tick_time(tick)
        problem = market_data_problem(window, needed=needed, timeframe=timeframe, now=moment)
        assert decides == (problem == ""), (moment, count, problem)
        if decides:
            priced_at = window[-1].open_time + duration  # the newest close: the fill's price
            assert fills == price_fresh(moment - priced_at, duration)
        else:
            assert not fills


def test_a_candle_closed_exactly_two_timeframes_ago_is_fresh_one_later_is_not() -> None:
    candles = candles_of(walk_closes(5), timeframe="1m")
    last_close = int((candles.bars[-1].open_time + timedelta(minutes=1)).timestamp())
    ticks = np.asarray([last_close + 120, last_close + 121], dtype=np.int64)

    usable, tradable = tradable_ticks(candles, ticks, np.asarray([5, 5]), needed=5)

    assert usable.tolist() == [True, False]
    assert tradable.tolist() == [False, False]  # the price is older than one timeframe
