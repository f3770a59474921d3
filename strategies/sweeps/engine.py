"""The one place sweeps call the backtester: a window's candles, and one set's figures on them.

Every sweep result is an exact backtest (strategies.backtesting): no rule of trading, fees or
figures lives here, only the choice of which figure a sweep ranks by.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from strategies.sweeps.models import Sweep

# The figures kept per set (the backtest's own names), and how the objective reads them.
FIGURES = (
    "total_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "trades",
    "trades_hash",
)

_cache: dict[tuple[Any, ...], Any] = {}


def window_candles(*, sweep: Sweep, start: datetime, end: datetime) -> Any:
    """The candles of the sweep's market and timeframe in [start, end), loaded once per
    process for the window in hand (a worker's next chunk is mostly of the same window)."""
    key = (sweep.market_id, sweep.timeframe, start, end)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _candles_load(sweep=sweep, start=start, end=end)
    return _cache[key]


def set_figures(*, sweep: Sweep, parameters: dict[str, Any], candles: Any) -> dict[str, Any]:
    """The backtest's figures of one parameter set on `candles`, as JSON values."""
    result = _backtest_run(sweep=sweep, parameters=parameters, candles=candles)
    return {name: _plain(getattr(result, name)) for name in FIGURES}


def objective_value(objective: str, figures: dict[str, Any]) -> float | None:
    """The figure a sweep maximises; return over drawdown is total return / max drawdown."""
    if objective == Sweep.Objective.RETURN_OVER_DRAWDOWN:
        drawdown = figures.get("max_drawdown")
        if not drawdown:
            return None
        return float(figures["total_return"]) / abs(float(drawdown))
    value = figures.get(objective)
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, int | str | None):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def _candles_load(*, sweep: Sweep, start: datetime, end: datetime) -> Any:
    raise NotImplementedError("waiting for the backtest-engine tag")


def _backtest_run(*, sweep: Sweep, parameters: dict[str, Any], candles: Any) -> Any:
    raise NotImplementedError("waiting for the backtest-engine tag")
