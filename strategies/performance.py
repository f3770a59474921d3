"""How a strategy is doing: position, P&L, equity curve, fees, trades, win rate, max drawdown.

The one place these figures are computed: the strategy page calls `strategy_performance`, the
API's lists `strategies_performance` (a constant number of queries for a whole page). Trades and
P&L are FIFO round trips (`strategies.trades`): realized is the closed trades' profit after
fees, unrealized the open trade's at the last price, so `realized + unrealized == equity -
starting capital` always holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from project.kernel.decimals import stored
from strategies import selectors
from strategies.models import Order, PaperPosition, Strategy
from strategies.trades import Fill, Trade, TradeSummary, round_trips, trades_summary

ZERO = Decimal(0)
RATE = Decimal("0.0001")


@dataclass(frozen=True)
class EquityPoint:
    time: datetime
    equity: Decimal


@dataclass
class Ledger:
    """Cash and position after replaying fills in order from a starting quote balance."""

    quote: Decimal
    held: Decimal = ZERO  # base the account held besides the strategy's trades (live)
    base: Decimal = ZERO
    fees: Decimal = ZERO
    curve: list[EquityPoint] = field(default_factory=list)

    def equity(self, price: Decimal) -> Decimal:
        return stored(self.quote + (self.held + self.base) * price)

    def apply(self, fill: Fill) -> None:
        """Move cash and position by one fill."""
        base, quote = flows(fill)
        self.base += base
        self.quote += quote
        self.fees += fill.fee


def flows(fill: Fill) -> tuple[Decimal, Decimal]:
    """What a fill adds to base and to quote: a buy pays its value and fee, a sell receives
    its value less the fee."""
    value = fill.amount * fill.price
    if fill.side == Order.Side.BUY:
        return fill.amount, -(value + fill.fee)
    return -fill.amount, value - fill.fee


@dataclass(frozen=True)
class Performance:
    """The figures of one strategy, as the page and the API show them."""

    mode: str
    base_amount: Decimal
    quote_balance: Decimal
    average_entry_price: Decimal | None
    fees_paid: Decimal
    last_price: Decimal | None
    starting_capital: Decimal | None
    equity: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    total_pnl: Decimal | None
    trades: int  # closed round trips
    wins: int
    win_rate: Decimal | None  # wins per closed trade, 0 to 1
    max_drawdown: Decimal
    trade_list: list[Trade]  # closed trades as they closed, then the open one
    summary: TradeSummary
    equity_curve: list[EquityPoint]
    balances: dict[str, Decimal]
    balances_synced_at: datetime | None  # live: the sync the equity starts from


@dataclass(frozen=True)
class Start:
    """What a strategy's account held before its first fill: quote cash and other base."""

    quote: Decimal
    held: Decimal = ZERO


def fills_replay(
    *, fills: Iterable[Fill], start: Start, prices: Sequence[tuple[datetime, Decimal]]
) -> Ledger:
    """Replay fills (oldest first) and mark the equity at each fill and each price point."""
    ledger = Ledger(quote=start.quote, held=start.held)
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
    return worst.quantize(RATE)


@dataclass(frozen=True)
class Inputs:
    """What one strategy's figures are computed from, read for many strategies at once."""

    fills: list[Fill]
    paper_quote: Decimal | None
    last: selectors.Price | None
    holdings: dict[str, selectors.Holding]  # live: the account's latest totals of both assets


def strategies_performance(*, strategies: Sequence[Strategy]) -> dict[int, Performance]:
    """The figures of many strategies (an API page) in four queries, whatever their number."""
    inputs = performance_inputs(strategies=strategies)
    return {s.pk: performance_of(strategy=s, inputs=inputs[s.pk]) for s in strategies}


def strategy_performance(
    *, strategy: Strategy, prices: Sequence[tuple[datetime, Decimal]] = ()
) -> Performance:
    """One strategy's figures, its equity also marked at `prices` (time, close): the page's."""
    inputs = performance_inputs(strategies=[strategy])[strategy.pk]
    return performance_of(strategy=strategy, inputs=inputs, prices=prices)


def performance_inputs(*, strategies: Sequence[Strategy]) -> dict[int, Inputs]:
    """Fills, paper cash, last prices and live balances of the strategies: four queries.

    The strategies need their `market` loaded (select_related) for a live one's assets.
    """
    ids = [strategy.pk for strategy in strategies]
    fills = selectors.strategies_fills(strategy_ids=ids)
    quotes = selectors.paper_quote_balances(strategy_ids=ids)
    prices = selectors.last_prices(feeds={(s.market_id, s.timeframe) for s in strategies})
    assets = {s.pk: _live_assets(s) for s in strategies}
    holdings = selectors.latest_holdings(
        wanted={(s.account_id, asset) for s in strategies for asset in assets[s.pk]}
    )
    return {
        s.pk: Inputs(
            fills=[Fill(*fill) for fill in fills.get(s.pk, [])],
            paper_quote=quotes.get(s.pk),
            last=prices.get((s.market_id, s.timeframe)),
            holdings={
                asset: holdings[s.account_id, asset]
                for asset in assets[s.pk]
                if (s.account_id, asset) in holdings
            },
        )
        for s in strategies
    }


def _live_assets(strategy: Strategy) -> tuple[str, ...]:
    if strategy.mode != Strategy.Mode.LIVE or strategy.account_id is None:
        return ()
    return (strategy.market.base, strategy.market.quote)


def performance_of(
    *, strategy: Strategy, inputs: Inputs, prices: Sequence[tuple[datetime, Decimal]] = ()
) -> Performance:
    """Position, P&L and trade figures, the equity marked at `prices` (time, close) and fills;
    where paper and live strategies start from: `_start`."""
    start, synced_at = _start(strategy=strategy, inputs=inputs)
    ledger = fills_replay(fills=inputs.fills, start=start, prices=prices)
    price = inputs.last.value if inputs.last is not None else None
    equity = ledger.equity(price) if price is not None else None
    starting = _starting_capital(start, price)
    trades = round_trips(inputs.fills, last_price=price, as_of=timezone.now())
    summary = trades_summary(trades)
    held = trades[-1] if trades and trades[-1].is_open else None
    unrealized = (held.profit if held else ZERO) if price is not None else None
    curve = _curve_to_last(ledger.curve, inputs.last, equity)
    return Performance(
        mode=strategy.mode,
        base_amount=ledger.base,
        quote_balance=ledger.quote,
        average_entry_price=stored(held.entry_price) if held else None,
        fees_paid=ledger.fees,
        last_price=price,
        starting_capital=starting,
        equity=equity,
        realized_pnl=summary.closed_profit,
        unrealized_pnl=None if unrealized is None else stored(unrealized),
        total_pnl=None if equity is None or starting is None else equity - starting,
        trades=summary.closed,
        wins=summary.wins,
        win_rate=None if summary.win_rate is None else (summary.win_rate / 100).quantize(RATE),
        max_drawdown=max_drawdown(curve),
        equity_curve=curve,
        balances={asset: holding.total for asset, holding in inputs.holdings.items()},
        balances_synced_at=synced_at,
        trade_list=trades,
        summary=summary,
    )


def _curve_to_last(
    curve: list[EquityPoint], last: selectors.Price | None, equity: Decimal | None
) -> list[EquityPoint]:
    """The curve in time order ending on the equity now: the Equity figure is its last point.

    Marks at or after the last price's moment are replaced by that one point (a fill may
    postdate the last price: it is in the equity now, at the fill's moment)."""
    ordered = sorted(curve, key=lambda point: point.time)
    if last is None or equity is None:
        return ordered
    end = max([last.at, *(point.time for point in ordered[-1:])])
    return [point for point in ordered if point.time < end] + [EquityPoint(end, equity)]


def _starting_capital(start: Start, price: Decimal | None) -> Decimal | None:
    """The quote the strategy started from; the account's other base counts at the last price,
    so without a price it is unknown."""
    if not start.held:
        return start.quote
    return None if price is None else stored(start.quote + start.held * price)


def _start(*, strategy: Strategy, inputs: Inputs) -> tuple[Start, datetime | None]:
    """Paper: today's quote balance with every fill's cash flow undone. Live: `_live_start`
    (the account's synced balances; the starting capital is what it held before the fills, at
    the last price, so the position and P&L stay the strategy's own fills')."""
    if strategy.mode == Strategy.Mode.PAPER:
        quote = inputs.paper_quote
        if quote is None:
            quote = PaperPosition._meta.get_field("quote_balance").get_default()
        return Start(quote=_before(inputs.fills, base=ZERO, quote=quote)[1]), None
    return _live_start(strategy=strategy, inputs=inputs)


def _live_start(*, strategy: Strategy, inputs: Inputs) -> tuple[Start, datetime | None]:
    """The account before the strategy's first fill: its latest synced balances with the fills
    made up to that sync undone (later fills are not in it yet). An asset missing from the
    latest sync counts as zero; no sync at all starts from zero capital."""
    if not inputs.holdings:
        return Start(quote=ZERO), None
    synced_at = max(holding.taken_at for holding in inputs.holdings.values())

    def total(asset: str) -> Decimal:
        holding = inputs.holdings.get(asset)
        return holding.total if holding and holding.taken_at == synced_at else ZERO

    market = strategy.market
    synced = [fill for fill in inputs.fills if fill.time <= synced_at]
    base, quote = _before(synced, base=total(market.base), quote=total(market.quote))
    return Start(quote=quote, held=base), synced_at


def _before(fills: Iterable[Fill], *, base: Decimal, quote: Decimal) -> tuple[Decimal, Decimal]:
    """Base and quote as they were before these fills, each fill's amount and cash undone."""
    for fill in fills:
        added_base, added_quote = flows(fill)
        base, quote = base - added_base, quote - added_quote
    return base, quote
