"""Round-trip trades from an ordered list of fills: FIFO lots, pure, no database.

Definitions (the strategy page shows them):
- Buys open lots; each sell closes the oldest lots first (FIFO) and is one closed trade. A sell
  that takes part of a lot splits it: the part sold goes into that trade, the rest stays open.
- A trade's entry price is the amount-weighted price of the lot parts it closed; its entry time
  the time of the oldest of them; its duration from that time to the sell.
- Fees are in the quote currency. A buy's fee is shared among its lot parts by amount; the
  sell's fee belongs to its trade. `fees` is both.
- profit = amount x exit price - amount x entry price - fees (in quote).
- profit % = profit / (amount x entry price + entry fees) x 100: the gain on the money paid in.
- What is still held is one open trade marked to the last price: its exit fee not yet paid.
- A sell larger than what is held closes what is held; the rest (bought outside the fills
  given, or a short) opens no trade.
- Summary: win rate = trades with profit > 0 / closed trades; profit factor = sum of gains /
  sum of losses (None when no trade lost).

The backtester calls `round_trips` on its own fills, the strategy page on an order history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Fill(NamedTuple):
    """One execution: `side` is "buy" or "sell"; `fee` in the quote currency.

    A named tuple, not a frozen dataclass: a backtest makes one per fill (up to one per candle),
    and a frozen dataclass's `__init__` costs three times as much."""

    time: datetime
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Trade:
    """A round trip; an open one has `exit_time` None and `exit_price` the mark price."""

    entry_time: datetime
    exit_time: datetime | None
    amount: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    profit: Decimal | None
    profit_pct: Decimal | None
    duration: timedelta | None
    fees: Decimal

    @property
    def is_open(self) -> bool:
        return self.exit_time is None


@dataclass(frozen=True, slots=True)
class TradeSummary:
    closed: int
    wins: int
    losses: int
    win_rate: Decimal | None  # a percentage of closed trades
    profit_factor: Decimal | None
    closed_profit: Decimal


class _Lot:
    """Mutable rest of a buy: what is left of it, and the fee not yet assigned."""

    __slots__ = ("amount", "fee", "price", "time")

    def __init__(self, time: datetime, amount: Decimal, price: Decimal, fee: Decimal) -> None:
        self.time, self.amount, self.price, self.fee = time, amount, price, fee


def _profit_pct(profit: Decimal, cost: Decimal, entry_fees: Decimal) -> Decimal | None:
    paid = cost + entry_fees
    return profit / paid * HUNDRED if paid else None


def _take(lots: deque[_Lot], wanted: Decimal) -> tuple[datetime, Decimal, Decimal, Decimal]:
    """Remove up to `wanted` from the oldest lots: (first time, amount, cost, entry fees)."""
    first = lots[0].time
    amount = cost = fees = ZERO
    while lots and amount < wanted:
        lot = lots[0]
        part = min(lot.amount, wanted - amount)
        share = lot.fee if part == lot.amount else lot.fee * part / lot.amount
        amount += part
        cost += part * lot.price
        fees += share
        lot.amount -= part
        lot.fee -= share
        if lot.amount <= 0:
            lots.popleft()
    return first, amount, cost, fees


def _close(lots: deque[_Lot], sell: Fill) -> Trade:
    first, amount, cost, entry_fees = _take(lots, sell.amount)
    exit_fee = sell.fee * amount / sell.amount if amount < sell.amount else sell.fee
    fees = entry_fees + exit_fee
    profit = amount * sell.price - cost - fees
    return Trade(
        entry_time=first,
        exit_time=sell.time,
        amount=amount,
        entry_price=cost / amount,
        exit_price=sell.price,
        profit=profit,
        profit_pct=_profit_pct(profit, cost, entry_fees),
        duration=sell.time - first,
        fees=fees,
    )


def _open_trade(lots: deque[_Lot], last_price: Decimal | None, as_of: datetime | None) -> Trade:
    amount = sum((lot.amount for lot in lots), ZERO)
    cost = sum((lot.amount * lot.price for lot in lots), ZERO)
    fees = sum((lot.fee for lot in lots), ZERO)
    first = lots[0].time
    profit = None if last_price is None else amount * last_price - cost - fees
    return Trade(
        entry_time=first,
        exit_time=None,
        amount=amount,
        entry_price=cost / amount,
        exit_price=last_price,
        profit=profit,
        profit_pct=None if profit is None else _profit_pct(profit, cost, fees),
        duration=None if as_of is None else as_of - first,
        fees=fees,
    )


def round_trips(
    fills: Iterable[Fill], *, last_price: Decimal | None = None, as_of: datetime | None = None
) -> list[Trade]:
    """Closed trades in the order they closed, then the open trade if anything is held.

    `fills` must be in time order. `last_price` marks the open trade; `as_of` gives its duration.
    """
    lots: deque[_Lot] = deque()
    trades: list[Trade] = []
    for fill in fills:
        time, side, amount, price, fee = fill
        if amount <= ZERO:  # a Decimal beside a Decimal: twice as fast as beside an int
            continue
        if side == "buy":
            lots.append(_Lot(time, amount, price, fee))
        elif lots:
            trades.append(_close(lots, fill))
    if lots:
        trades.append(_open_trade(lots, last_price, as_of))
    return trades


def trades_summary(trades: Sequence[Trade]) -> TradeSummary:
    """Counts and ratios over the closed trades only; the open trade is not counted."""
    profits = [trade.profit for trade in trades if not trade.is_open and trade.profit is not None]
    gains = sum((p for p in profits if p > 0), ZERO)
    losses = -sum((p for p in profits if p < 0), ZERO)
    wins = sum(1 for p in profits if p > 0)
    return TradeSummary(
        closed=len(profits),
        wins=wins,
        losses=sum(1 for p in profits if p < 0),
        win_rate=Decimal(wins) / len(profits) * HUNDRED if profits else None,
        profit_factor=gains / losses if losses else None,
        closed_profit=sum(profits, ZERO),
    )
