"""The strategy page's figures and trade rows as text: what each card and cell shows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from project.display import plain
from strategies.performance import Performance
from strategies.trades import Trade

BASE_STEP = Decimal("0.00000001")

WIN_RATE_DEFINITION = (
    "Closed trades with a profit after fees, out of all closed trades. Each sell closes the "
    "oldest bought lots first (FIFO) and is one trade; what is still held is the open trade, "
    "not counted."
)
PROFIT_PCT_DEFINITION = "Profit after all fees / (amount x entry price + entry fees)."


def money(value: Decimal | None) -> str:
    """Quote amounts to the cent."""
    return "-" if value is None else f"{value:,.2f}"


def base(value: Decimal | None) -> str:
    """Base amounts to 8 places, trailing zeros dropped."""
    return "-" if value is None else plain(value.quantize(BASE_STEP)) or "0"


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


def figures(performance: Performance) -> list[tuple[str, str, str]]:
    """The cards as (label, text, definition)."""
    summary = performance.summary
    return [
        ("Position", base(performance.base_amount), "Base held."),
        ("Average entry", money(performance.average_entry_price), "Of the open trade's lots."),
        ("Quote balance", money(performance.quote_balance), ""),
        ("Last price", money(performance.last_price), "The chart's Last line."),
        ("Starting capital", money(performance.starting_capital), ""),
        ("Equity", money(performance.equity), "The equity chart's last point."),
        ("P&L", money(performance.total_pnl), "Equity less starting capital."),
        ("Realized", money(performance.realized_pnl), "Closed trades' profit after fees."),
        ("Unrealized", money(performance.unrealized_pnl), "The open trade at the last price."),
        ("Fees", money(performance.fees_paid), ""),
        ("Closed trades", str(summary.closed), "Sells, each closing the oldest lots (FIFO)."),
        ("Win rate", percent(summary.win_rate, 1), WIN_RATE_DEFINITION),
        ("Profit factor", _factor(summary.profit_factor), "Sum of gains / sum of losses."),
        ("Max drawdown", percent(performance.max_drawdown * 100), "Largest fall from a peak."),
    ]


def _factor(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def trade_rows(trades: list[Trade], *, limit: int) -> list[dict[str, Any]]:
    """The open trade first, then the newest `limit` closed trades."""
    held = [trade for trade in trades[-1:] if trade.is_open]
    closed = trades[: len(trades) - len(held)]
    return [_row(trade) for trade in held + list(reversed(closed[-limit:]))]


def _row(trade: Trade) -> dict[str, Any]:
    return {
        "is_open": trade.is_open,
        "entry_time": trade.entry_time,
        "exit_time": trade.exit_time,
        "amount": base(trade.amount),
        "entry_price": money(trade.entry_price),
        "exit_price": money(trade.exit_price),
        "profit": money(trade.profit),
        "profit_pct": percent(trade.profit_pct),
        "won": trade.profit is not None and trade.profit > 0,
        "duration": duration(trade.duration),
        "fees": money(trade.fees),
    }
