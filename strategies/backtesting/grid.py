"""The ticks a backtest replays, from the scheduling interface's trigger, and what each reads.

A live run at a tick reads the newest closed candles stored at that moment: those that closed
at or before the tick. The grid is the trigger's own (`project.kernel.scheduling`): an interval
is the anchored grid the beat fires on, a crontab its fire times by `next_tick`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from project.kernel.scheduling import EPOCH, IntervalTrigger, Trigger, ticks_between
from strategies.backtesting.candles import Candles
from strategies.candle_rules import newest_closed_open


def tick_grid(trigger: Trigger, *, start: datetime, end: datetime) -> np.ndarray:
    """The trigger's ticks in [start, end) as Unix seconds (int64), oldest first."""
    if isinstance(trigger, IntervalTrigger):
        first, count = trigger.grid(start, end)
        step = trigger.every // timedelta(seconds=1)
        return _seconds(first) + step * np.arange(count, dtype=np.int64)
    return np.asarray(
        [_seconds(tick) for tick in ticks_between(trigger, start, end)], dtype=np.int64
    )


def closed_counts(candles: Candles, ticks: np.ndarray) -> np.ndarray:
    """For each tick, how many of the candles a live run at that tick reads as closed: those
    opening at or before `candle_rules.newest_closed_open` of the tick (the live run's one
    rule, called over the array). Its window is the newest `candles_required()` of them."""
    newest_open = newest_closed_open(ticks, candles.duration_s)
    return np.searchsorted(candles.open_s, newest_open, side="right")


def _seconds(moment: datetime) -> int:
    elapsed = moment - EPOCH
    if elapsed.microseconds:
        raise ValueError(f"a backtest's ticks fall on whole seconds, not {moment.isoformat()}")
    return elapsed // timedelta(seconds=1)


def tick_time(seconds: int) -> datetime:
    """A tick as an aware UTC datetime (every fill's time: half the cost of EPOCH + delta)."""
    return datetime.fromtimestamp(int(seconds), UTC)
