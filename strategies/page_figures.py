"""The strategy page's figures and trade rows as text: what each card and cell shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from marketdata.models import Market
from project.kernel.decimals import STORED_PLACES, UNSTATED, Precision, Step
from project.kernel.display import plain
from strategies.ordering import MarketRules, precision_shown
from strategies.performance import Performance
from strategies.trades import Trade

MONEY_PLACES, BASE_PLACES = 2, 8


@dataclass(frozen=True)
class Places:
    """How many places a market's quote amounts and prices, and its base amounts, are shown with."""

    money: int = MONEY_PLACES
    base: int = BASE_PLACES


def places_of(market: Market) -> Places:
    """The places of the precisions the API and admin show the market's money and amounts in
    (`strategies.ordering.precision_shown`); a market that states none (or counts significant
    digits) keeps the cent and 8 places."""
    rules = MarketRules.from_market(market)

    def places(precision: Precision, default: int) -> int:
        if not isinstance(precision, Step) or precision == UNSTATED:
            return default
        return min(precision.places, STORED_PLACES)

    return Places(
        money=places(precision_shown(rules, "money"), MONEY_PLACES),
        base=places(precision_shown(rules, "amount"), BASE_PLACES),
    )


WIN_RATE_DEFINITION = (
    "Closed trades with a profit after fees, out of all closed trades. Each sell closes the "
    "oldest bought lots first (FIFO) and is one trade; what is still held is the open trade, "
    "not counted."
)
PROFIT_PCT_DEFINITION = "Profit after all fees / (amount x entry price + entry fees)."


def money(value: Decimal | None, places: int = MONEY_PLACES) -> str:
    """Quote amounts and prices with `places` places (the market's, `places_of`)."""
    return "-" if value is None else f"{value:,.{places}f}"


def base(value: Decimal | None, places: int = BASE_PLACES) -> str:
    """Base amounts to `places` places, trailing zeros dropped."""
    return "-" if value is None else plain(value.quantize(Decimal(1).scaleb(-places))) or "0"


def percent(value: Decimal | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:.{places}f}%"


def duration(value: timedelta | None) -> str:
    """1 d 02 h, 3 h 05 min, 4 min 09 s: the two largest units."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s"


def figures(performance: Performance, shown: Places = Places()) -> list[tuple[str, str, str]]:
    """The cards as (label, text, definition)."""
    summary = performance.summary

    def cash(value: Decimal | None) -> str:
        return money(value, shown.money)

    return [
        ("Position", base(performance.base_amount, shown.base), "Base held."),
        ("Average entry", cash(performance.average_entry_price), "Of the open trade's lots."),
        ("Quote balance", cash(performance.quote_balance), ""),
        ("Last price", cash(performance.last_price), "The chart's Last line."),
        ("Starting capital", cash(performance.starting_capital), ""),
        ("Equity", cash(performance.equity), "The equity chart's last point."),
        ("P&L", cash(performance.total_pnl), "Equity less starting capital."),
        ("Realized", cash(performance.realized_pnl), "Closed trades' profit after fees."),
        ("Unrealized", cash(performance.unrealized_pnl), "The open trade at the last price."),
        ("Fees", cash(performance.fees_paid), ""),
        ("Closed trades", str(summary.closed), "Sells, each closing the oldest lots (FIFO)."),
        ("Win rate", percent(summary.win_rate, 1), WIN_RATE_DEFINITION),
        ("Profit factor", _factor(summary.profit_factor), "Sum of gains / sum of losses."),
        ("Max drawdown", percent(performance.max_drawdown * 100), "Largest fall from a peak."),
    ]


def _factor(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def trade_rows(
    trades: list[Trade], *, limit: int, shown: Places = Places()
) -> list[dict[str, Any]]:
    """The open trade first, then the newest `limit` closed trades."""
    held = [trade for trade in trades[-1:] if trade.is_open]
    closed = trades[: len(trades) - len(held)]
    return [_row(trade, shown) for trade in held + list(reversed(closed[-limit:]))]


def _row(trade: Trade, shown: Places) -> dict[str, Any]:
    return {
        "is_open": trade.is_open,
        "entry_time": trade.entry_time,
        "exit_time": trade.exit_time,
        "amount": base(trade.amount, shown.base),
        "entry_price": money(trade.entry_price, shown.money),
        "exit_price": money(trade.exit_price, shown.money),
        "profit": money(trade.profit, shown.money),
        "profit_pct": percent(trade.profit_pct),
        "won": trade.profit is not None and trade.profit > 0,
        "duration": duration(trade.duration),
        "fees": money(trade.fees, shown.money),
    }
