"""A user's SMA crossover for bench/backtest.py: the built-in rule written as a user would, so
it runs through `decide()` (no fast path), with floats as a user might."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from strategies.engine import Action, Bar, BaseStrategy, Param, ParamType, Signal, register


@register
class UserSma(BaseStrategy):
    key = "bench_user_sma"
    display_name = "Bench: a user's SMA crossover"
    parameters = {
        "fast": Param(ParamType.INTEGER, default=10, minimum=1),
        "slow": Param(ParamType.INTEGER, default=30, minimum=2),
        "quote_amount": Param(ParamType.DECIMAL, default=Decimal(100)),
    }

    def candles_required(self) -> int:
        return self.params["slow"] + 1

    def decide(self, candles: Sequence[Bar]) -> Signal:
        fast, slow = self.params["fast"], self.params["slow"]
        closes = [float(bar.close) for bar in candles[-slow - 1 :]]
        now = sum(closes[-fast:]) / fast - sum(closes[-slow:]) / slow
        before = sum(closes[-fast - 1 : -1]) / fast - sum(closes[-slow - 1 : -1]) / slow
        if before <= 0 < now:
            return Signal(Action.BUY, quote_amount=self.params["quote_amount"])
        if before >= 0 > now:
            return Signal(Action.SELL)
        return Signal.hold()


def register_user_sma() -> str:
    """The key the class is registered under (importing this module registers it)."""
    return UserSma.key
