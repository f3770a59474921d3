"""The one wrapper through which user strategy code runs: errors become StrategyCodeFailed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strategies.engine.base import Bar, BaseStrategy, Signal
from strategies.errors import StrategyCodeFailed


def error_class_name(error: BaseException) -> str:
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def strategy_build(cls: type[BaseStrategy], params: Mapping[str, Any]) -> BaseStrategy:
    """An instance with validated `params`; a constructor that raises is the strategy's fault."""
    try:
        return cls(params)
    except Exception as error:
        raise StrategyCodeFailed(error_class_name(error), str(error)) from error


def strategy_candles_required(strategy: BaseStrategy) -> int:
    """`strategy.candles_required()`, a whole number from 1 up, or the strategy's failure."""
    try:
        count = strategy.candles_required()
    except Exception as error:
        raise StrategyCodeFailed(error_class_name(error), str(error)) from error
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise StrategyCodeFailed("TypeError", f"candles_required() returned {count!r}")
    return count


def strategy_decide(strategy: BaseStrategy, candles: Sequence[Bar]) -> Signal:
    """The strategy's signal; any exception, or a result that is not a Signal, is its failure."""
    try:
        signal = strategy.decide(candles)
    except Exception as error:
        raise StrategyCodeFailed(error_class_name(error), str(error)) from error
    if not isinstance(signal, Signal):
        raise StrategyCodeFailed(
            "TypeError", f"decide() returned {type(signal).__name__}, not a Signal"
        )
    return signal
