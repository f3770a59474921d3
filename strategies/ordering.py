"""The one order computation: amount, price, fee and the paper book, to the market's rules.

Pure and fast (no database): the paper broker, the live sender and the backtester all call
it, so paper, live and backtest compute the same order. Amounts follow ccxt's
`amount_to_precision` (TRUNCATE), prices its `price_to_precision` (ROUND, half away from
zero), in every ccxt precision mode; money (value, fee, balances) is in the quote
currency's precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from project.kernel.decimals import (
    Precision,
    PrecisionMode,
    SignificantDigits,
    fixed_to,
    fixed_trimmed,
    precision_of,
)
from strategies.engine.base import Action, Signal

ZERO = Decimal(0)
# How an amount the user asked for is named in a refusal: 0.00008367, not 28 digits.
SHOWN = SignificantDigits(4)
BUY = Action.BUY.value  # read once: an enum member's .value is a slow property


class StoredMarket(Protocol):
    """What `MarketRules.from_market` reads: a `marketdata.models.Market` row has it."""

    symbol: str
    base: str
    quote: str
    precision: Mapping[str, Any]
    limits: Mapping[str, Any]
    precision_mode: int


@dataclass(frozen=True, slots=True)
class MarketRules:
    """A market's order rules as ccxt states them: precisions and minimums.

    `quote_precision` is the precision of money on this market (order value, fee, quote
    balance): ccxt's `precision["quote"]`, else `["cost"]`, else the price's.
    """

    symbol: str
    base: str
    quote: str
    amount: Precision
    price: Precision
    quote_precision: Precision
    min_amount: Decimal | None = None
    min_cost: Decimal | None = None

    @classmethod
    def from_market(cls, market: StoredMarket) -> MarketRules:
        """The rules of a stored market (`marketdata.models.Market`)."""
        return cls.from_ccxt(
            {
                "symbol": market.symbol,
                "base": market.base,
                "quote": market.quote,
                "precision": market.precision,
                "limits": market.limits,
            },
            precision_mode=market.precision_mode,
        )

    @classmethod
    def from_ccxt(cls, market: Mapping[str, Any], *, precision_mode: int) -> MarketRules:
        """The rules of a ccxt market structure, in its exchange's `precisionMode`.

        A precision the market does not state is the database's 12 places (nothing is cut
        that the database would keep); a missing or zero minimum is no minimum.
        """
        mode = PrecisionMode(precision_mode)
        stated = market.get("precision") or {}
        limits = market.get("limits") or {}
        price = precision_of(stated.get("price"), mode)
        quote = next((stated[k] for k in ("quote", "cost") if stated.get(k) is not None), None)
        return cls(
            symbol=market["symbol"],
            base=market["base"],
            quote=market["quote"],
            amount=precision_of(stated.get("amount"), mode),
            price=price,
            quote_precision=price if quote is None else precision_of(quote, mode),
            min_amount=_minimum(limits, "amount"),
            min_cost=_minimum(limits, "cost"),
        )

    def amount_to_precision(self, amount: Decimal) -> Decimal:
        """ccxt's `amount_to_precision`: truncated to the amount precision."""
        return self.amount.truncate(amount)

    def price_to_precision(self, price: Decimal) -> Decimal:
        """ccxt's `price_to_precision`: rounded to the price precision, a tie away from zero."""
        return self.price.round(price)

    def to_quote(self, money: Decimal) -> Decimal:
        """Money in the quote currency's precision, rounded (ccxt's `fee_to_precision` rule)."""
        return self.quote_precision.round(money)


def _minimum(limits: Mapping[str, Any], name: str) -> Decimal | None:
    stated = (limits.get(name) or {}).get("min")
    if stated is None or not Decimal(str(stated)) > 0:
        return None
    return Decimal(str(stated))


class Refusal(NamedTuple):
    """Why no order is placed, in words a user reads (the run is skipped or fails with it)."""

    reason: str


NOTHING_TO_SELL = Refusal("nothing to sell: the position is empty")


class OrderTerms(NamedTuple):
    """An order as the exchange would take it: amount and price on the market's grid."""

    side: str  # "buy" or "sell" (Order.Side)
    amount: Decimal
    price: Decimal  # the paper fill's price; for a live market order the price it was sized at


def order_terms(
    rules: MarketRules, signal: Signal, *, price: Decimal, held: Decimal | None
) -> OrderTerms | Refusal:
    """The order a buy or sell signal asks for at `price`, or why there is none.

    The amount is the signal's `amount`, what its `quote_amount` buys at the price, or (a sell
    with neither) all of `held`, the base amount the strategy holds; truncated to the amount
    precision, then held to the market's minimum amount and cost. The price is rounded to the
    price precision.
    """
    side = signal.action  # a StrEnum: the text "buy" or "sell" itself
    if signal.amount is None and signal.quote_amount is None and not held:
        return NOTHING_TO_SELL  # before any rounding: a selling signal may repeat every candle
    price = rules.price.round(price)  # price_to_precision
    if signal.amount is not None:
        wanted = signal.amount
    elif signal.quote_amount is not None:
        wanted = signal.quote_amount / price
    else:
        wanted = held
    amount = rules.amount.truncate(wanted)  # amount_to_precision
    refusal = minimums_refusal(rules, amount=amount, price=price, wanted=wanted)
    return refusal or OrderTerms(side, amount, price)


def minimums_refusal(
    rules: MarketRules, *, amount: Decimal, price: Decimal, wanted: Decimal | None = None
) -> Refusal | None:
    """Why the market would refuse `amount` at `price` (zero, or under its minimums), or None.

    `wanted` is the amount before truncation, named in the message when it is under the
    minimum amount (the user asked for it; the truncated one may read 0).
    """
    if rules.min_amount is not None and amount < rules.min_amount:
        wanted = amount if wanted is None else wanted
        return Refusal(
            f"order of {fixed_trimmed(SHOWN.truncate(wanted))} {rules.base} is below the "
            f"market's minimum amount {fixed_trimmed(rules.min_amount)}"
        )
    if not amount > ZERO:  # beside a Decimal, not an int: half the cost, on every order
        step = rules.amount
        return Refusal(f"the order amount rounds to zero at the market's amount step {step}")
    if rules.min_cost is not None and (cost := amount * price) < rules.min_cost:
        return Refusal(
            f"order of {fixed_trimmed(amount)} {rules.base} at {fixed_trimmed(price)} costs "
            f"{fixed_to(cost, rules.quote_precision)} {rules.quote}, below the market's "
            f"minimum cost {fixed_trimmed(rules.min_cost)} {rules.quote}"
        )
    return None


def guardrail_refusal(
    *,
    side: str,
    amount: Decimal,
    held: Decimal | None,
    max_position: Decimal | None,
    orders_today: int,
    max_orders_per_day: int | None,
) -> Refusal | None:
    """Why the strategy's own guardrails refuse this order, or None.

    `held` is the base amount held (needed for sells and when `max_position` is set);
    `max_orders_per_day` None is no cap.
    """
    if max_orders_per_day is not None and orders_today >= max_orders_per_day:
        return Refusal(f"max orders per day reached: {orders_today} of {max_orders_per_day}")
    if side == BUY:
        if max_position is not None and (held or ZERO) + amount > max_position:
            return Refusal(
                f"max position {fixed_trimmed(max_position)} would be exceeded: "
                f"holding {fixed_trimmed(held or ZERO)}, buying {fixed_trimmed(amount)}"
            )
    elif held is None or amount > held:
        held_text = fixed_trimmed(held or ZERO)
        return Refusal(f"cannot sell {fixed_trimmed(amount)}: the position is {held_text}")
    return None


class PaperBook(NamedTuple):
    """A paper account on one market: base held, quote cash, average entry, fees paid."""

    base: Decimal
    quote: Decimal
    average_entry: Decimal | None
    fees_paid: Decimal


class PaperFill(NamedTuple):
    """An order filled on paper: its value and fee (quote currency) and the book after it."""

    value: Decimal
    fee: Decimal
    book: PaperBook


def paper_fill(
    rules: MarketRules, book: PaperBook, terms: OrderTerms, *, fee_rate: Decimal
) -> PaperFill | Refusal:
    """Fill `terms` on paper at its price, or say why the book cannot take it.

    The one fee rule: value = amount x price and fee = value x `fee_rate`, each rounded to the
    quote precision; a buy pays value + fee, a sell receives value - fee. The average entry is
    the volume-weighted buy price at the price precision, cleared when the position closes.
    """
    # Unpacked once and rounded by `rules.to_quote`'s rule looked up once: a backtest runs
    # this for every fill, so attribute look-ups and repeated products are spared.
    side, amount, price = terms
    base, quote, average_entry, fees_paid = book
    money = rules.quote_precision.round
    traded = amount * price
    value = money(traded)
    fee = money(value * fee_rate)
    if side == BUY:
        cost = value + fee
        if cost > quote:
            return Refusal(
                f"insufficient paper balance: {fixed_to(cost, rules.quote_precision)} "
                f"{rules.quote} needed, {fixed_to(quote, rules.quote_precision)} "
                f"{rules.quote} available"
            )
        held = base + amount
        entry = rules.price.round((base * (average_entry or ZERO) + traded) / held)
        return PaperFill(value, fee, PaperBook(held, money(quote - cost), entry, fees_paid + fee))
    if amount > base:
        return Refusal(
            f"cannot sell {fixed_trimmed(amount)} {rules.base}: the paper position is "
            f"{fixed_trimmed(base)} {rules.base}"
        )
    held = base - amount
    entry = average_entry if held else None
    return PaperFill(
        value, fee, PaperBook(held, money(quote + value - fee), entry, fees_paid + fee)
    )


def shown(rules: MarketRules, value: Decimal | None, what: str) -> str | None:
    """A number of this market as people read it (admin, API, pages): an `amount` at the
    amount precision, a `price` at the price tick, `money` in the quote currency's places
    (0.10 USD, never 0.099999999981): no more places than the market or currency has."""
    if value is None:
        return None
    if what == "amount":
        return fixed_trimmed(rules.amount.round(value))
    return fixed_to(value, rules.price if what == "price" else rules.quote_precision)
