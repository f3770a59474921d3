"""The fast path of the built-in kinds equals `decide()` at every tick of a year of 1m candles,
warm-up and ties included, and a backtest on it trades exactly as one through `decide()`."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from strategies.backtesting import signals
from strategies.backtesting.engine import BacktestSpec, backtest_run
from strategies.backtesting.grid import closed_counts, tick_grid
from strategies.backtesting.replay import tradable_ticks
from strategies.engine import Signal, get_strategy_class
from strategies.engine.safety import strategy_build, strategy_candles_required, strategy_decide
from tests.strategies.backtesting.series import (
    ONE_YEAR_OF_MINUTES,
    candles_of,
    period_of,
    walk_closes,
)

KINDS = [
    ("sma_crossover", {}),
    ("sma_crossover", {"fast": 1, "slow": 2}),
    ("rsi_thresholds", {}),
    ("rsi_thresholds", {"period": 4, "oversold": "25", "overbought": "75"}),
    ("dca", {}),
]


@pytest.fixture(scope="module")
def year():
    candles = candles_of(walk_closes(ONE_YEAR_OF_MINUTES))
    start, end = period_of(candles)
    # From before the first candle: the warm-up ticks (too few candles) are in the grid too.
    spec_start = start - 5 * (end - start) / ONE_YEAR_OF_MINUTES
    return candles, spec_start, end


@pytest.mark.parametrize(("kind", "parameters"), KINDS)
def test_the_fast_signals_equal_decide_at_every_tick_of_a_year(year, kind, parameters) -> None:
    candles, start, end = year
    cls = get_strategy_class(kind)
    instance = strategy_build(cls, cls.clean_parameters(parameters))
    needed = strategy_candles_required(instance)
    ticks = tick_grid(BacktestSpec(kind, {}, "1m", start, end).tick_trigger, start=start, end=end)
    counts = closed_counts(candles, ticks)
    usable, _ = tradable_ticks(candles, ticks, counts, needed=needed)

    codes, fixed = signals.fast_signals(instance, candles, counts)

    expected = {Signal.hold(): signals.HOLD, **{signal: code for code, signal in fixed.items()}}
    mismatches, asked = [], 0
    for index in np.flatnonzero(usable).tolist():
        end_at = int(counts[index])
        decided = strategy_decide(instance, candles.bars[end_at - needed : end_at])
        if codes[index] == signals.ASK:
            asked += 1
        elif expected[decided] != codes[index]:
            mismatches.append((index, decided, int(codes[index])))
    assert not mismatches[:5]
    assert usable.sum() == len(candles) - needed + 1  # every tick after the warm-up was checked
    assert not usable[: needed + 4].any()  # the warm-up ticks are skipped, not decided
    # SMA ties are exact in whole numbers; an RSI exactly on a threshold goes to decide().
    assert asked == 0 if kind != "rsi_thresholds" else 0 < asked < usable.sum() // 10


@pytest.mark.parametrize(("kind", "parameters"), KINDS)
def test_a_backtest_on_the_fast_path_trades_as_one_through_decide(year, kind, parameters) -> None:
    candles, start, _ = year
    end = start + (candles.bars[1].open_time - candles.bars[0].open_time) * 40_000
    spec = BacktestSpec(kind, parameters, "1m", start, end, max_orders_per_day=None)

    fast = backtest_run(spec, candles)
    slow = backtest_run(BacktestSpec(**{**spec.__dict__, "fast": False}), candles)

    assert fast.fills == slow.fills
    assert fast.trades_hash == slow.trades_hash
    assert len(fast.fills) > 20


def test_closes_stored_with_twelve_places_keep_the_fast_path() -> None:
    stored = [close.quantize(Decimal("0.000000000001")) for close in walk_closes(1000)]
    candles = candles_of(stored)

    units = signals.whole_closes(candles)

    # The walk moves in steps of 50 cents: 30001.500000000000 counts as one place, not twelve,
    # so the whole numbers stay small and their sums exact.
    assert units is not None
    assert units.tolist() == [int(close * 10) for close in stored]
