"""The strategies Tickwork ships: SMA crossover, RSI thresholds and dollar-cost averaging."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from project.kernel.validators import AMOUNT_MAX
from strategies.engine.base import Action, Bar, BaseStrategy, Param, ParamType, Signal
from strategies.engine.registry import register

QUOTE_AMOUNT = Param(
    ParamType.DECIMAL,
    default=Decimal(100),
    minimum=Decimal("0.00000001"),
    maximum=AMOUNT_MAX,
    help="How much of the quote currency one buy spends.",
)


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


@register
class SmaCrossover(BaseStrategy):
    """Buy when the fast average of closes crosses above the slow one; sell on the way down."""

    key = "sma_crossover"
    display_name = "SMA crossover"
    parameters = {
        "fast": Param(ParamType.INTEGER, default=10, minimum=1, maximum=500),
        "slow": Param(ParamType.INTEGER, default=30, minimum=2, maximum=1000),
        "quote_amount": QUOTE_AMOUNT,
    }

    @classmethod
    def check(cls, values: dict[str, Any]) -> dict[str, str]:
        if values["fast"] >= values["slow"]:
            return {"fast": "must be less than slow"}
        return {}

    def candles_required(self) -> int:
        # The slow average now and one bar earlier.
        return self.params["slow"] + 1

    def decide(self, candles: Sequence[Bar]) -> Signal:
        closes = [bar.close for bar in candles]
        fast, slow = self.params["fast"], self.params["slow"]
        now = _mean(closes[-fast:]) - _mean(closes[-slow:])
        before = _mean(closes[-fast - 1 : -1]) - _mean(closes[-slow - 1 : -1])
        if before <= 0 < now:
            return Signal(Action.BUY, quote_amount=self.params["quote_amount"])
        if before >= 0 > now:
            return Signal(Action.SELL)
        return Signal.hold()


@register
class RsiThresholds(BaseStrategy):
    """Buy when RSI falls below `oversold`, sell when it rises above `overbought`.

    RSI here averages the last `period` close-to-close gains and losses simply (Cutler's RSI),
    so a run depends only on the candles it is given.
    """

    key = "rsi_thresholds"
    display_name = "RSI thresholds"
    parameters = {
        "period": Param(ParamType.INTEGER, default=14, minimum=2, maximum=500),
        "oversold": Param(ParamType.DECIMAL, default=Decimal(30), minimum=0, maximum=100),
        "overbought": Param(ParamType.DECIMAL, default=Decimal(70), minimum=0, maximum=100),
        "quote_amount": QUOTE_AMOUNT,
    }

    @classmethod
    def check(cls, values: dict[str, Any]) -> dict[str, str]:
        if values["oversold"] >= values["overbought"]:
            return {"oversold": "must be less than overbought"}
        return {}

    def candles_required(self) -> int:
        return self.params["period"] + 1

    def decide(self, candles: Sequence[Bar]) -> Signal:
        value = rsi([bar.close for bar in candles], self.params["period"])
        if value < self.params["oversold"]:
            return Signal(Action.BUY, quote_amount=self.params["quote_amount"])
        if value > self.params["overbought"]:
            return Signal(Action.SELL)
        return Signal.hold()


def rsi(closes: Sequence[Decimal], period: int) -> Decimal:
    """Relative strength index (0..100) of the last `period` changes; flat prices give 50."""
    changes = [b - a for a, b in zip(closes[-period - 1 : -1], closes[-period:], strict=True)]
    gain = sum((c for c in changes if c > 0), Decimal(0))
    loss = -sum((c for c in changes if c < 0), Decimal(0))
    if gain == loss == 0:
        return Decimal(50)
    if loss == 0:
        return Decimal(100)
    return Decimal(100) - Decimal(100) / (1 + gain / loss)


@register
class DollarCostAveraging(BaseStrategy):
    """Buy a fixed amount of the quote currency's worth every run, whatever the price."""

    key = "dca"
    display_name = "Dollar-cost averaging"
    parameters = {"quote_amount": QUOTE_AMOUNT}

    def decide(self, candles: Sequence[Bar]) -> Signal:
        return Signal(Action.BUY, quote_amount=self.params["quote_amount"])
