"""The simulator's records: faults to inject, orders, and the error answers it sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from marketdata.simulator.prices import SimMarket

FAULT_KINDS = {
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 5xx with an HTML body
    "slow",  # the answer comes after `delay` seconds
    "malformed",  # 200 with a truncated JSON body
    "bad_values",  # 200 with a candle or ticker value replaced (negative, NaN, missing)
    "misaligned",  # 200 with one candle moved off the timeframe's grid
    "gap",  # candles with open times in [start, end) are missing
    "slow_create",  # buy/sell: the order is created, the answer comes after `delay` seconds
}


@dataclass
class Fault:
    kind: str
    times: int | None = 1  # None: until cleared
    path: str = ""  # only requests whose path contains this
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimOrder:
    id: int
    owner: str
    client_order_id: str
    market: SimMarket
    side: str
    type: str
    amount: Decimal
    price: Decimal | None
    created: datetime
    status: str = "Open"
    transactions: list[dict[str, Any]] = field(default_factory=list)

    def remaining(self) -> Decimal:
        filled = sum((Decimal(t[self.market.base.lower()]) for t in self.transactions), Decimal(0))
        return self.amount - filled


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(reason: str) -> dict[str, Any]:
    return {"status": "error", "reason": {"__all__": [reason]}}
