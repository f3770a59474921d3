"""The fast path: the built-in kinds' signals at every tick at once, with numpy.

Each function gives, per tick, a code: 0 hold, 1 buy, 2 sell, or 3 "ask `decide()`" (a tie
too close to call in floating point); the replay turns 1 and 2 into the exact Signal
`decide()` returns and calls `decide()` itself for 3. Sums are exact: closes are turned into
whole numbers of their smallest decimal place, so an SMA crossover's ties (equal averages)
are found exactly. Only the exact built-in classes take it (a subclass may change `decide`);
tests/strategies/backtesting/test_fast_path.py proves every code equal to `decide()` at every
tick of a year of 1m candles, warm-up and ties included.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np

from strategies.backtesting.candles import Candles
from strategies.engine import Action, BaseStrategy, Signal
from strategies.engine.builtin import DollarCostAveraging, RsiThresholds, SmaCrossover

HOLD, BUY, SELL, ASK = 0, 1, 2, 3
# Whole-number sums stay exact in float64 below 2**53 (and in int64 below 2**62).
EXACT_LIMIT = 2**53
# A relative gap this small between an RSI and its threshold is a tie for `decide()` to call.
RSI_TIE = 1e-9

Signals = tuple[np.ndarray, dict[int, Signal]]


def fast_signals(instance: BaseStrategy, candles: Candles, counts: np.ndarray) -> Signals | None:
    """Codes per tick and the Signal of each code, or None (no fast path: use `decide()`).

    `counts[i]` is how many candles a run at tick i reads as closed (its window ends there).
    """
    compute = FAST_PATHS.get(type(instance))
    if compute is None:
        return None
    buy = Signal(Action.BUY, quote_amount=instance.params["quote_amount"])
    return (compute(instance, candles, counts), {BUY: buy, SELL: Signal(Action.SELL)})


def whole_closes(candles: Candles) -> np.ndarray | None:
    """Closes as whole numbers of their smallest decimal place, or None when they would not
    stay exact in int64 sums."""
    closes = [bar.close for bar in candles.bars]
    if not closes:
        return None
    # By value, not by form: a stored 30000.120000000000 has two places, not twelve.
    places = max(-min(close.normalize().as_tuple().exponent for close in closes), 0)
    scale = Decimal(10) ** places
    units = np.asarray([int(close * scale) for close in closes], dtype=np.int64)
    # Cumulative sums, and window sums times a window length (at most 10**6), stay in int64.
    if int(np.abs(units).max(initial=0)) * max(len(units) + 1, 10**6) >= EXACT_LIMIT * 512:
        return None
    return units


def _sma_codes(instance: BaseStrategy, candles: Candles, counts: np.ndarray) -> np.ndarray:
    fast, slow = instance.params["fast"], instance.params["slow"]
    units = _units(candles)
    if units is None:
        return np.full(len(counts), ASK, dtype=np.int8)
    sums = np.concatenate(([0], np.cumsum(units)))
    # The sign of mean(fast) - mean(slow), exactly: fast_sum * slow - slow_sum * fast.
    ends = np.maximum(counts, slow + 1)
    now = _spread(sums, ends, fast, slow)
    before = _spread(sums, ends - 1, fast, slow)
    codes = np.zeros(len(counts), dtype=np.int8)
    codes[(before <= 0) & (now > 0)] = BUY
    codes[(before >= 0) & (now < 0)] = SELL
    return codes


def _spread(sums: np.ndarray, ends: np.ndarray, fast: int, slow: int) -> np.ndarray:
    fast_sum = sums[ends] - sums[ends - fast]
    slow_sum = sums[ends] - sums[ends - slow]
    return np.sign(fast_sum * slow - slow_sum * fast)


def _rsi_codes(instance: BaseStrategy, candles: Candles, counts: np.ndarray) -> np.ndarray:
    period = instance.params["period"]
    units = _units(candles)
    if units is None:
        return np.full(len(counts), ASK, dtype=np.int8)
    changes = np.diff(units, prepend=units[:1])
    gains = np.concatenate(([0], np.cumsum(np.maximum(changes, 0))))
    losses = np.concatenate(([0], np.cumsum(np.maximum(-changes, 0))))
    ends = np.maximum(counts, period + 1)
    gain = (gains[ends] - gains[ends - period]).astype(np.float64)
    loss = (losses[ends] - losses[ends - period]).astype(np.float64)
    codes = np.zeros(len(counts), dtype=np.int8)
    # RSI = 100 * gain / (gain + loss); 50 when both are 0 (as decide() says). Compared with
    # each threshold as 100 * gain against threshold * (gain + loss), without a division.
    both = gain + loss
    flat = both == 0
    left = np.where(flat, 50.0, 100.0 * gain)
    left_size = np.abs(left)
    for threshold, below, code in (
        (instance.params["oversold"], True, BUY),
        (instance.params["overbought"], False, SELL),
    ):
        right = np.where(flat, float(threshold), float(threshold) * both)
        crossed = left < right if below else left > right
        tie = np.abs(left - right) <= RSI_TIE * np.maximum(left_size, np.abs(right))
        codes[crossed & (codes == HOLD)] = code
        codes[tie] = ASK
    return codes


def _dca_codes(instance: BaseStrategy, candles: Candles, counts: np.ndarray) -> np.ndarray:
    return np.full(len(counts), BUY, dtype=np.int8)


def _units(candles: Candles) -> np.ndarray | None:
    cache = candles.__dict__
    if "_units" not in cache:
        cache["_units"] = whole_closes(candles)
    return cache["_units"]


FAST_PATHS: dict[type[BaseStrategy], Callable[[BaseStrategy, Candles, np.ndarray], np.ndarray]] = {
    SmaCrossover: _sma_codes,
    RsiThresholds: _rsi_codes,
    DollarCostAveraging: _dca_codes,
}
