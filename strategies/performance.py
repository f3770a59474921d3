"""How a strategy is doing: position, P&L, equity curve, fees, trades, win rate, max drawdown.

The one place these figures are computed: the strategy page and the API both call
`strategy_performance`. P&L uses the average-cost method with fees in the cost: a buy's fee
raises the cost of what it bought, a sell's fee lowers what the sale brought in, so
`realized + unrealized == equity - starting capital` always holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from marketdata.models import BalanceSnapshot
from strategies import selectors
from strategies.models import Order, PaperPosition, Strategy

ZERO = Decimal(0)
STEP = Decimal("0.000000000001")  # the twelve decimal places the models store


@dataclass(frozen=True)
class Fill:
    """What an order actually traded: the filled amount at its average price, and its fee."""

    time: datetime
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True)
class EquityPoint:
    time: datetime
    equity: Decimal


@dataclass
class Ledger:
    """The state after replaying fills in order from a starting quote balance."""

    starting_quote: Decimal
    quote: Decimal
    base: Decimal = ZERO
    cost: Decimal = ZERO  # what the base held cost, fees included
    fees: Decimal = ZERO
    realized: Decimal = ZERO
    trades: int = 0
    wins: int = 0
    curve: list[EquityPoint] = field(default_factory=list)

    @property
    def average_cost(self) -> Decimal | None:
        return (self.cost / self.base).quantize(STEP) if self.base else None

    def equity(self, price: Decimal) -> Decimal:
        return (self.quote + self.base * price).quantize(STEP)

    def apply(self, fill: Fill) -> None:
        """Move cash and position by one fill; a sell closes a trade, won if it gained."""
        value = fill.amount * fill.price
        self.fees += fill.fee
        if fill.side == Order.Side.BUY:
            self.quote -= value + fill.fee
            self.cost += value + fill.fee
            self.base += fill.amount
            return
        sold = min(fill.amount, self.base)
        cost_sold = self.cost * sold / self.base if self.base else ZERO
        gain = (value - fill.fee - cost_sold).quantize(STEP)
        self.quote += value - fill.fee
        self.cost -= cost_sold
        self.base -= fill.amount
        if self.base <= 0:
            self.cost = ZERO
        self.realized += gain
        self.trades += 1
        self.wins += gain > 0


@dataclass(frozen=True)
class Performance:
    """The figures of one strategy, as the page and the API show them."""

    mode: str
    base_amount: Decimal
    quote_balance: Decimal
    average_entry_price: Decimal | None
    fees_paid: Decimal
    last_price: Decimal | None
    starting_capital: Decimal
    equity: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    total_pnl: Decimal | None
    trades: int
    wins: int
    win_rate: Decimal | None
    max_drawdown: Decimal
    equity_curve: list[EquityPoint]
    balances: dict[str, Decimal]


def fills_replay(
    *, fills: Iterable[Fill], starting_quote: Decimal, prices: Sequence[tuple[datetime, Decimal]]
) -> Ledger:
    """Replay fills (oldest first) and mark the equity at each fill and each price point."""
    ledger = Ledger(starting_quote=starting_quote, quote=starting_quote)
    pending = sorted(fills, key=lambda fill: fill.time)
    index = 0
    for time, price in prices:
        while index < len(pending) and pending[index].time <= time:
            _apply_marked(ledger, pending[index])
            index += 1
        ledger.curve.append(EquityPoint(time, ledger.equity(price)))
    for fill in pending[index:]:
        _apply_marked(ledger, fill)
    return ledger


def _apply_marked(ledger: Ledger, fill: Fill) -> None:
    ledger.apply(fill)
    ledger.curve.append(EquityPoint(fill.time, ledger.equity(fill.price)))


def max_drawdown(curve: Iterable[EquityPoint]) -> Decimal:
    """The largest fall from a peak of equity, as a fraction of that peak (0.25 is 25%)."""
    peak, worst = None, ZERO
    for point in curve:
        if peak is None or point.equity > peak:
            peak = point.equity
        elif peak > 0:
            worst = max(worst, (peak - point.equity) / peak)
    return worst.quantize(Decimal("0.0001"))


def strategy_fills(*, strategy_id: int) -> list[Fill]:
    """Every order of the strategy that traded something, oldest first."""
    rows = (
        Order.objects.filter(strategy_id=strategy_id, filled_amount__gt=0)
        .filter(~Q(average_price=None))
        .order_by("created_at", "id")
        .values_list("created_at", "side", "filled_amount", "average_price", "fee")
    )
    return [Fill(*row) for row in rows]


def strategy_performance(
    *, strategy: Strategy, prices: Sequence[tuple[datetime, Decimal]] = ()
) -> Performance:
    """Position, P&L and trade figures, the equity marked at `prices` (time, close) and fills.

    Paper: the position is the PaperPosition; the starting capital is its quote balance before
    the first fill. Live: the position comes from the fills alone (an account may hold more
    than one strategy's assets), starting from zero capital; the account's latest balances of
    the market's two assets are reported beside it.
    """
    fills = strategy_fills(strategy_id=strategy.pk)
    starting = _starting_capital(strategy=strategy, fills=fills)
    ledger = fills_replay(fills=fills, starting_quote=starting, prices=prices)
    last = selectors.last_price(market_id=strategy.market_id, timeframe=strategy.timeframe)
    price = last.value if last is not None else None
    equity = ledger.equity(price) if price is not None else None
    unrealized = (ledger.base * price - ledger.cost).quantize(STEP) if price is not None else None
    marked = ledger.curve + ([EquityPoint(last.at, equity)] if last and equity is not None else [])
    curve = sorted(marked, key=lambda point: point.time)  # a fill may postdate the last price
    return Performance(
        mode=strategy.mode,
        base_amount=ledger.base,
        quote_balance=ledger.quote,
        average_entry_price=ledger.average_cost,
        fees_paid=ledger.fees,
        last_price=price,
        starting_capital=starting,
        equity=equity,
        realized_pnl=ledger.realized,
        unrealized_pnl=unrealized,
        total_pnl=None if equity is None else equity - starting,
        trades=ledger.trades,
        wins=ledger.wins,
        win_rate=(Decimal(ledger.wins) / ledger.trades).quantize(Decimal("0.0001"))
        if ledger.trades
        else None,
        max_drawdown=max_drawdown(curve),
        equity_curve=curve,
        balances=_account_balances(strategy=strategy),
    )


def _starting_capital(*, strategy: Strategy, fills: list[Fill]) -> Decimal:
    """Paper: today's quote balance with every fill's cash flow undone. Live: zero."""
    if strategy.mode != Strategy.Mode.PAPER:
        return ZERO
    quote = (
        PaperPosition.objects.filter(strategy_id=strategy.pk)
        .values_list("quote_balance", flat=True)
        .first()
    )
    if quote is None:
        quote = PaperPosition._meta.get_field("quote_balance").get_default()
    for fill in fills:
        value = fill.amount * fill.price
        quote += value + fill.fee if fill.side == Order.Side.BUY else -(value - fill.fee)
    return quote


def _account_balances(*, strategy: Strategy) -> dict[str, Decimal]:
    """The latest total of the market's base and quote assets on a live strategy's account."""
    if strategy.account_id is None:
        return {}
    market = strategy.market
    balances = {}
    for asset in (market.base, market.quote):
        total = (
            BalanceSnapshot.objects.filter(account_id=strategy.account_id, asset=asset)
            .order_by("-taken_at")
            .values_list("total", flat=True)
            .first()
        )
        if total is not None:
            balances[asset] = total
    return balances
