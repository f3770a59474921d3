"""Test-only strategies, registered in the test process and (by CELERY_EXTRA_IMPORTS) in workers."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Sequence
from decimal import Decimal

import redis
from django.conf import settings

from strategies.engine import Action, Bar, BaseStrategy, Param, ParamType, Signal, register

GATE_TIMEOUT_SECONDS = 90


class StrategyBug(Exception):
    """What a buggy user strategy raises."""


@register
class GateStrategy(BaseStrategy):
    """Announces itself (its pid) in Redis, then buys only once the test opens its gate.

    That makes "in the middle of a run" a state the test controls: kill it there, or start
    another run of the same strategy while it waits.
    """

    key = "test_gate"
    display_name = "Test: waits at a gate"
    parameters = {
        "gate": Param(ParamType.STRING, default="gate"),
        "amount": Param(ParamType.DECIMAL, default=Decimal("0.5"), minimum=Decimal("0.001")),
    }

    def decide(self, candles: Sequence[Bar]) -> Signal:
        client = redis.Redis.from_url(settings.REDIS_URL)
        gate = self.params["gate"]
        client.rpush(f"{gate}:entered", os.getpid())
        deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
        while not client.exists(f"{gate}:open"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate {gate} was never opened")
            time.sleep(0.02)
        return Signal(Action.BUY, amount=self.params["amount"])


@register
class RaisingStrategy(BaseStrategy):
    key = "test_raising"
    display_name = "Test: always raises"

    def decide(self, candles: Sequence[Bar]) -> Signal:
        raise StrategyBug(f"cannot handle {len(candles)} candles")


@register
class FixedSignalStrategy(BaseStrategy):
    """Returns the signal its parameters describe: for guardrail and fill tests."""

    key = "test_fixed"
    display_name = "Test: fixed signal"
    parameters = {
        "action": Param(ParamType.STRING, default="buy"),
        "amount": Param(ParamType.DECIMAL, default=Decimal(0), minimum=Decimal(0)),
    }

    def decide(self, candles: Sequence[Bar]) -> Signal:
        amount = self.params["amount"] or None
        return Signal(Action(self.params["action"]), amount=amount)


@register
class AlternatingStrategy(BaseStrategy):
    """Buys `amount` while the newest candle opened on an even minute, sells all on an odd one:
    a pure function of the candles that trades both ways every minute (parity tests)."""

    key = "test_alternating"
    display_name = "Test: buy on even minutes, sell on odd"
    parameters = {
        "amount": Param(ParamType.DECIMAL, default=Decimal("0.001"), minimum=Decimal("0.00001")),
    }

    def decide(self, candles: Sequence[Bar]) -> Signal:
        if candles[-1].open_time.minute % 2 == 0:
            return Signal(Action.BUY, amount=self.params["amount"])
        return Signal(Action.SELL)


@register
class SlowStrategy(BaseStrategy):
    """Holds after `seconds`: a run long enough that two ticks running at once would meet."""

    key = "test_slow"
    display_name = "Test: holds after a while"
    parameters = {"seconds": Param(ParamType.DECIMAL, default=Decimal("0.6"), minimum=Decimal(0))}

    def decide(self, candles: Sequence[Bar]) -> Signal:
        time.sleep(float(self.params["seconds"]))
        return Signal(Action.HOLD)


class _Node:
    """An object that refers to itself: freed only by the cyclic garbage collector."""

    def __init__(self) -> None:
        self.me = self


@register
class CyclicStrategy(BaseStrategy):
    """Holds, leaving a reference cycle behind each tick, as a user's `decide()` may (pandas
    objects do): `alive` holds them weakly, `most_alive` the most seen at once."""

    key = "test_cyclic"
    display_name = "Test: leaves a reference cycle each tick"
    alive: weakref.WeakSet[_Node] = weakref.WeakSet()
    most_alive = 0

    def decide(self, candles: Sequence[Bar]) -> Signal:
        cls = type(self)
        cls.alive.add(_Node())
        cls.most_alive = max(cls.most_alive, len(cls.alive))
        return Signal(Action.HOLD)
