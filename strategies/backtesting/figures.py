"""The figures of a backtest: equity curve, return, CAGR, drawdown, Sharpe, Sortino and more.

Sharpe and Sortino are of daily returns (the equity at each UTC day's last tick), annualised
by the square root of 365 (crypto markets trade every day), with no risk-free rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from strategies.backtesting.candles import Candles
from strategies.backtesting.grid import tick_time
from strategies.trades import Fill, Trade, trades_summary

if TYPE_CHECKING:
    from strategies.backtesting.engine import BacktestSpec
    from strategies.backtesting.replay import Replay

EQUITY_POINTS = 1000
DAY_S = 86_400
YEAR_S = 365.25 * DAY_S


@dataclass(frozen=True)
class Curve:
    ticks: np.ndarray  # Unix seconds
    equity: np.ndarray  # quote + base x the newest close, after the tick's fill
    held: np.ndarray  # base held after the tick


def equity_curve(replay: Replay, candles: Candles, ticks: np.ndarray, counts: np.ndarray) -> Curve:
    """The paper account's value at every tick, marked to the newest closed candle's close."""
    capital = float(replay.spec.capital)
    bases = np.asarray([0.0] + [float(book.base) for book in replay.books])
    quotes = np.asarray([capital] + [float(book.quote) for book in replay.books])
    after = np.searchsorted(
        np.asarray(replay.fill_ticks, dtype=np.int64), np.arange(len(ticks)), "right"
    )
    marks = candles.closes[np.maximum(counts - 1, 0)] if len(candles) else np.zeros(len(ticks))
    held = bases[after]
    return Curve(ticks, quotes[after] + held * marks, held)


def equity_points(curve: Curve) -> list[tuple[datetime, float]]:
    """At most EQUITY_POINTS points of the curve, evenly spaced, the first and last kept."""
    count = len(curve.ticks)
    if count == 0:
        return []
    picks = np.unique(np.linspace(0, count - 1, min(count, EQUITY_POINTS)).astype(np.int64))
    return [(tick_time(curve.ticks[i]), round(float(curve.equity[i]), 8)) for i in picks]


def figures_of(
    spec: BacktestSpec, curve: Curve, trades: Sequence[Trade], fills: Sequence[Fill]
) -> dict[str, float | int | None]:
    """Every figure a trader reads, as JSON numbers (None where it is undefined)."""
    capital = float(spec.capital)
    final = float(curve.equity[-1]) if len(curve.equity) else capital
    summary = trades_summary(trades)
    daily = _daily_returns(curve, capital)
    years = (spec.end - spec.start).total_seconds() / YEAR_S
    growth = final / capital if capital else math.nan
    return {
        "final_equity": round(final, 8),
        "total_return_pct": _pct(growth - 1),
        "cagr_pct": _cagr(growth, years),
        "max_drawdown_pct": _pct(_max_drawdown(curve.equity)),
        "sharpe": _ratio(daily, np.std(daily, ddof=1) if len(daily) > 1 else 0.0),
        "sortino": _ratio(
            daily, math.sqrt(float(np.mean(np.minimum(daily, 0) ** 2))) if len(daily) else 0.0
        ),
        "win_rate_pct": _number(summary.win_rate),
        "profit_factor": _number(summary.profit_factor),
        "exposure_pct": _pct(float(np.mean(curve.held > 0))) if len(curve.held) else None,
        "fees": round(float(sum(fill.fee for fill in fills)), 8),
        "trades": summary.closed,
        "orders": len(fills),
    }


def _cagr(growth: float, years: float) -> float | None:
    """The yearly growth rate compounding to `growth` in `years`, in percent; None when it is
    undefined or beyond a float (a short period's gain raised to a large power)."""
    if not (years > 0 and growth > 0):
        return None
    try:
        return _pct(growth ** (1 / years) - 1)
    except OverflowError:
        return None


def _daily_returns(curve: Curve, capital: float) -> np.ndarray:
    if not len(curve.ticks):
        return np.zeros(0)
    days = curve.ticks // DAY_S
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = np.concatenate(([capital], curve.equity[last_of_day]))
    return np.diff(closes) / closes[:-1]


def _max_drawdown(equity: np.ndarray) -> float:
    if not len(equity):
        return 0.0
    peaks = np.maximum.accumulate(equity)
    return float(np.max((peaks - equity) / peaks))


def _ratio(returns: np.ndarray, spread: float) -> float | None:
    if not len(returns) or not spread:
        return None
    return round(float(np.mean(returns)) / float(spread) * math.sqrt(365), 6)


def _pct(value: float) -> float:
    return round(value * 100, 6)


def _number(value: object) -> float | None:
    return None if value is None else round(float(value), 6)
