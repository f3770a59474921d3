"""The strategy engine: base class, registry, the shipped strategies and the safe wrapper."""

from strategies.engine import builtin  # noqa: F401 - registers the shipped strategies
from strategies.engine.base import Action, Bar, BaseStrategy, Param, ParamType, Signal
from strategies.engine.registry import (
    get_strategy_class,
    parameter_errors,
    register,
    strategy_choices,
)

__all__ = [
    "Action",
    "Bar",
    "BaseStrategy",
    "Param",
    "ParamType",
    "Signal",
    "get_strategy_class",
    "parameter_errors",
    "register",
    "strategy_choices",
]
