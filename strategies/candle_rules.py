"""Which closed candles a run at a tick reads, and when they are fresh enough to act on.

One statement of each rule for a live run, a batch of runs and a backtest. Each is a single
expression of plain operators, so the same function answers for one run (a timestamp, a
timedelta, an int) and for every tick of a backtest at once (numpy arrays of Unix seconds):
the backtester calls these, never a vectorised copy of its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np

Seconds = TypeVar("Seconds", int, float, "np.ndarray")
Span = TypeVar("Span", timedelta, int, float, "np.ndarray")
Count = TypeVar("Count", int, "np.ndarray")


def newest_closed_open(tick: Seconds, duration: int | float) -> Seconds:
    """The open time of the newest candle a decision at `tick` sees: the one that closed at or
    before the tick (the one closing at the tick itself included; the forming one never).

    In Unix seconds, `duration` the timeframe's."""
    return tick // duration * duration - duration


def candles_fresh(age: Span, duration: timedelta | int) -> Span:
    """A run decides only on candles whose newest ended at most two timeframes before it:
    `age` is the run's moment less that candle's close."""
    return age <= 2 * duration


def candles_enough(count: Count, needed: int) -> Count:
    """A run decides only with the `candles_required()` closed candles its strategy reads."""
    return count >= needed


def price_fresh(age: Span, duration: timedelta | int) -> Span:
    """A paper fill never uses a price older than one timeframe before the tick it trades for:
    `age` is the tick less the moment of the price. Measured from the tick, not the clock: at
    a tick on a candle boundary the newest closed candle ends exactly at the tick, and the
    moments its collection and the run take must not make it stale."""
    return age <= duration
