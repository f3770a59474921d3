"""The one place sweeps call the backtester: a window's candles, and one set's backtest on them.

Every sweep result is an exact backtest (strategies.backtesting): no rule of trading, fees or
figures lives here, only how a sweep's set becomes a backtest spec and which figure it ranks by.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from strategies.backtesting.candles import Candles, candles_load
from strategies.backtesting.engine import BacktestResult, BacktestSpec, backtest_run
from strategies.engine import get_strategy_class
from strategies.engine.safety import strategy_build, strategy_candles_required
from strategies.ordering import MarketRules
from strategies.sweeps.models import Sweep

# The objective's figure in the backtest's figures (return over drawdown is computed here).
OBJECTIVE_FIGURES = {
    Sweep.Objective.SHARPE: "sharpe",
    Sweep.Objective.SORTINO: "sortino",
    Sweep.Objective.TOTAL_RETURN: "total_return_pct",
    Sweep.Objective.PROFIT_FACTOR: "profit_factor",
}

_cache: dict[tuple[Any, ...], tuple[int, Candles]] = {}


def warmup_of(*, kind: str, sets: list[dict[str, Any]]) -> int:
    """Candles before the window the sets need at its first tick: the most any set needs."""
    cls = get_strategy_class(kind)
    return max(strategy_candles_required(strategy_build(cls, s)) for s in sets)


def window_candles(*, sweep: Sweep, start: datetime, end: datetime, warmup: int) -> Candles:
    """The candles of the sweep's market and timeframe for [start, end) with `warmup` before,
    loaded once per process for the window in hand (a worker's next chunk is mostly of the
    same window): a load with more warmup serves a set that needs less, as a live run reads
    only its newest `candles_required()` of all it has."""
    key = (sweep.market_id, sweep.timeframe, start, end)
    cached = _cache.get(key)
    if cached is None or cached[0] < warmup:
        _cache.clear()
        loaded = candles_load(
            market_id=sweep.market_id,
            timeframe=sweep.timeframe,
            start=start,
            end=end,
            warmup=warmup,
        )
        _cache[key] = cached = (warmup, loaded)
    return cached[1]


def set_backtest(
    *, sweep: Sweep, parameters: dict[str, Any], candles: Candles, start: datetime, end: datetime
) -> BacktestResult:
    """One set backtested as a stopped paper strategy made from it would run: once per candle,
    the market's order rules, the sweep's capital and fee rate, default guardrails."""
    spec = BacktestSpec(
        kind=sweep.kind,
        parameters=parameters,
        timeframe=sweep.timeframe,
        start=start,
        end=end,
        capital=sweep.capital,
        fee_rate=sweep.fee_rate,
        rules=MarketRules.from_market(sweep.market),
    )
    return backtest_run(spec, candles)


def set_figures(**kwargs: Any) -> dict[str, Any]:
    """The backtest's figures of one set (see set_backtest) and its trades_hash, as JSON."""
    result = set_backtest(**kwargs)
    return {**{k: _plain(v) for k, v in result.figures.items()}, "trades_hash": result.trades_hash}


def objective_value(objective: str, figures: dict[str, Any]) -> float | None:
    """The figure a sweep maximises; return over drawdown is total return / max drawdown."""
    if objective == Sweep.Objective.RETURN_OVER_DRAWDOWN:
        drawdown = figures.get("max_drawdown_pct")
        total = figures.get("total_return_pct")
        if not drawdown or total is None:
            return None
        return float(total) / abs(float(drawdown))
    value = figures.get(OBJECTIVE_FIGURES[objective])
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    number = float(value)
    return number if math.isfinite(number) else None
