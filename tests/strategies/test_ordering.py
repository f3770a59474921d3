"""The order computation pinned to hand-computed amounts, prices and fees on several markets."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import product

import pytest
from ccxt.base import decimal_to_precision as ccxt_precision

from project.kernel.decimals import (
    PrecisionMode,
    SignificantDigits,
    Step,
    fixed,
    fixed_to,
    fixed_trimmed,
    precision_of,
)
from strategies.engine import Action, Signal
from strategies.ordering import (
    MarketRules,
    OrderTerms,
    PaperBook,
    PaperFill,
    Refusal,
    guardrail_refusal,
    order_terms,
    paper_fill,
)

FEE = D("0.001")

# BTC/USD as a tick-size exchange states it (Bitstamp-like): steps as numbers.
BTC_USD = MarketRules.from_ccxt(
    {
        "symbol": "BTC/USD",
        "base": "BTC",
        "quote": "USD",
        "precision": {"amount": 0.0001, "price": 0.01},
        "limits": {"amount": {"min": 0.0001}, "cost": {"min": 10}},
    },
    precision_mode=PrecisionMode.TICK_SIZE,
)
# A small-priced coin on a decimal-places exchange: 1 amount place, 5 price places, USD in 2.
DOGE_USD = MarketRules.from_ccxt(
    {
        "symbol": "DOGE/USD",
        "base": "DOGE",
        "quote": "USD",
        "precision": {"amount": 1, "price": 5, "quote": 2},
        "limits": {"amount": {"min": None}, "cost": {"min": 10}},
    },
    precision_mode=PrecisionMode.DECIMAL_PLACES,
)
# Ticks that are not powers of ten (futures-like): amount step 0.002, price tick 0.05.
ETH_USD = MarketRules.from_ccxt(
    {
        "symbol": "ETH/USD",
        "base": "ETH",
        "quote": "USD",
        "precision": {"amount": "0.002", "price": "0.05", "cost": "0.01"},
        "limits": {},
    },
    precision_mode=PrecisionMode.TICK_SIZE,
)


def buy(*, amount: str | None = None, quote_amount: str | None = None) -> Signal:
    return Signal(
        Action.BUY,
        amount=None if amount is None else D(amount),
        quote_amount=None if quote_amount is None else D(quote_amount),
    )


def book(base: str = "0", quote: str = "10000") -> PaperBook:
    return PaperBook(D(base), D(quote), None, D(0))


@pytest.mark.parametrize(
    ("rules", "amount", "truncated"),
    [
        (BTC_USD, "0.00019999", "0.0001"),
        (BTC_USD, "1.23456789", "1.2345"),
        (DOGE_USD, "812.39", "812.3"),
        (ETH_USD, "0.0059", "0.004"),
        (ETH_USD, "1.0019", "1.000"),
    ],
)
def test_amounts_are_truncated_to_the_amount_precision(rules, amount, truncated):
    assert rules.amount_to_precision(D(amount)) == D(truncated)


@pytest.mark.parametrize(
    ("rules", "price", "rounded"),
    [
        (BTC_USD, "59755.405", "59755.41"),  # a tie goes away from zero
        (BTC_USD, "59755.404", "59755.40"),
        (DOGE_USD, "0.123456", "0.12346"),
        (DOGE_USD, "0.123454", "0.12345"),
        (ETH_USD, "2000.025", "2000.05"),  # 40000.5 ticks: a tie, up
        (ETH_USD, "2000.024", "2000.00"),
    ],
)
def test_prices_are_rounded_to_the_price_tick(rules, price, rounded):
    assert rules.price_to_precision(D(price)) == D(rounded)


def test_a_quote_amount_buy_on_btc_usd_costs_what_it_costs_by_hand():
    terms = order_terms(BTC_USD, buy(quote_amount="100"), price=D("59755.4"), held=D(0))
    # 100 / 59755.40 = 0.0016734...; truncated to 0.0001.
    assert terms == OrderTerms("buy", D("0.0016"), D("59755.40"))

    filled = paper_fill(BTC_USD, book(), terms, fee_rate=FEE)

    # 0.0016 x 59755.40 = 95.60864 -> 95.61; fee 0.09561 -> 0.10; 10000 - 95.71 = 9904.29.
    after = PaperBook(D("0.0016"), D("9904.29"), D("59755.40"), D("0.10"))
    assert filled == PaperFill(D("95.61"), D("0.10"), after)


def test_selling_all_closes_the_position_with_the_fee_in_cents():
    before = PaperBook(D("0.0016"), D("9904.29"), D("59755.40"), D("0.10"))
    terms = order_terms(BTC_USD, Signal(Action.SELL), price=D("60000"), held=before.base)
    assert terms == OrderTerms("sell", D("0.0016"), D("60000.00"))

    filled = paper_fill(BTC_USD, before, terms, fee_rate=FEE)

    # 0.0016 x 60000 = 96.00; fee 0.096 -> 0.10; 9904.29 + 96.00 - 0.10 = 10000.19.
    after = PaperBook(D(0), D("10000.19"), None, D("0.20"))
    assert filled == PaperFill(D("96.00"), D("0.10"), after)


def test_a_small_coin_buy_in_decimal_places_mode():
    terms = order_terms(DOGE_USD, buy(quote_amount="100"), price=D("0.123456"), held=D(0))
    # Price 0.12346; 100 / 0.12346 = 809.97...; truncated to one place.
    assert terms == OrderTerms("buy", D("809.9"), D("0.12346"))

    filled = paper_fill(DOGE_USD, book(), terms, fee_rate=FEE)

    # 809.9 x 0.12346 = 99.990254 -> 99.99; fee 0.09999 -> 0.10; 10000 - 100.09 = 9899.91.
    assert (filled.value, filled.fee, filled.book.quote) == (D("99.99"), D("0.10"), D("9899.91"))
    assert filled.book.average_entry == D("0.12346")


def test_average_entry_is_weighted_and_kept_at_the_price_tick():
    held = PaperBook(D("0.0016"), D("9904.29"), D("59755.40"), D("0.10"))
    terms = order_terms(BTC_USD, buy(amount="0.0010"), price=D("60000.00"), held=held.base)

    filled = paper_fill(BTC_USD, held, terms, fee_rate=FEE)

    # (0.0016 x 59755.40 + 0.0010 x 60000) / 0.0026 = 155.60864 / 0.0026 = 59849.4769 -> .48
    assert filled.book.average_entry == D("59849.48")
    assert filled.book.base == D("0.0026")


def test_an_amount_under_the_minimum_amount_is_refused_with_the_reason():
    refused = order_terms(BTC_USD, buy(amount="0.00001"), price=D("59755.40"), held=D(0))
    assert refused == Refusal("order of 0.00001 BTC is below the market's minimum amount 0.0001")


def test_an_order_under_the_minimum_cost_is_refused_with_its_cost():
    refused = order_terms(DOGE_USD, buy(amount="80"), price=D("0.12346"), held=D(0))
    # 80 x 0.12346 = 9.8768, shown in cents.
    assert refused == Refusal(
        "order of 80 DOGE at 0.12346 costs 9.88 USD, below the market's minimum cost 10 USD"
    )


def test_an_amount_truncated_to_zero_is_refused_without_a_minimum():
    refused = order_terms(ETH_USD, buy(amount="0.0019"), price=D("2000"), held=D(0))
    assert refused == Refusal("the order amount rounds to zero at the market's amount step 0.002")


def test_selling_all_of_nothing_is_refused():
    refused = order_terms(BTC_USD, Signal(Action.SELL), price=D("60000"), held=D(0))
    assert refused == Refusal("nothing to sell: the position is empty")


def test_paper_fill_refuses_more_than_the_balance_and_the_position():
    terms = OrderTerms("buy", D("1.0000"), D("60000.00"))
    refused = paper_fill(BTC_USD, book(), terms, fee_rate=FEE)
    assert refused == Refusal(
        "insufficient paper balance: 60060.00 USD needed, 10000.00 USD available"
    )
    sold = paper_fill(BTC_USD, book(), OrderTerms("sell", D("0.0016"), D("1.00")), fee_rate=FEE)
    assert sold == Refusal("cannot sell 0.0016 BTC: the paper position is 0 BTC")


@pytest.mark.parametrize(
    ("cap", "today", "refused"),
    [(None, 10_000, False), (24, 23, False), (24, 24, True)],
)
def test_orders_per_day_cap_is_none_unless_set(cap, today, refused):
    reason = guardrail_refusal(
        side="buy",
        amount=D(1),
        held=D(0),
        max_position=None,
        orders_today=today,
        max_orders_per_day=cap,
    )
    assert (reason is not None) is refused


def test_max_position_and_overselling_are_refused():
    over = guardrail_refusal(
        side="buy",
        amount=D("0.5"),
        held=D("0.6"),
        max_position=D(1),
        orders_today=0,
        max_orders_per_day=None,
    )
    assert over == Refusal("max position 1 would be exceeded: holding 0.6, buying 0.5")
    oversold = guardrail_refusal(
        side="sell",
        amount=D("0.7"),
        held=D("0.6"),
        max_position=None,
        orders_today=0,
        max_orders_per_day=None,
    )
    assert oversold == Refusal("cannot sell 0.7: the position is 0.6")


def test_rules_from_a_stored_market_without_precision_keep_the_stored_places():
    rules = MarketRules.from_ccxt(
        {"symbol": "X/Y", "base": "X", "quote": "Y"}, precision_mode=PrecisionMode.TICK_SIZE
    )
    assert rules.amount_to_precision(D("0.1234567890129")) == D("0.123456789012")
    assert (rules.min_amount, rules.min_cost) == (None, None)


def test_significant_digits_mode_counts_digits_not_places():
    rules = precision_of(5, PrecisionMode.SIGNIFICANT_DIGITS)
    assert rules == SignificantDigits(5)
    assert rules.round(D("12345.67")) == D("12346")
    assert rules.truncate(D("0.00123456")) == D("0.0012345")


CCXT_MODES = {
    PrecisionMode.DECIMAL_PLACES: ccxt_precision.DECIMAL_PLACES,
    PrecisionMode.SIGNIFICANT_DIGITS: ccxt_precision.SIGNIFICANT_DIGITS,
    PrecisionMode.TICK_SIZE: ccxt_precision.TICK_SIZE,
}
STATED = {
    PrecisionMode.DECIMAL_PLACES: [0, 2, 5, 8],
    PrecisionMode.SIGNIFICANT_DIGITS: [3, 5],
    PrecisionMode.TICK_SIZE: ["0.01", "0.05", "0.25", "0.0001", "0.002", "5", "10"],
}
VALUES = ["0.000123456", "0.125", "1.005", "2000.025", "59755.405", "812.39", "12345.6789"]


@pytest.mark.parametrize("mode", list(STATED))
def test_every_mode_agrees_with_ccxts_own_decimal_to_precision(mode):
    """Checked against ccxt's function itself (the real library) over a grid of values."""
    for stated, value in product(STATED[mode], VALUES):
        precision = precision_of(stated, mode)
        for ours, theirs in (
            (precision.truncate, ccxt_precision.TRUNCATE),
            (precision.round, ccxt_precision.ROUND),
        ):
            expected = ccxt_precision.decimal_to_precision(
                value,
                theirs,
                stated if mode != PrecisionMode.TICK_SIZE else float(stated),
                CCXT_MODES[mode],
            )
            assert ours(D(value)) == D(expected), (mode, stated, value, ours)


def test_fixed_text_never_uses_exponents_and_money_has_its_currencys_places():
    assert fixed(D("1E-8")) == "0.00000001"
    assert fixed(D("0.50")) == "0.50"
    assert fixed(1e-08) == "0.00000001"
    assert fixed_trimmed(D("1E-8")) == "0.00000001"
    assert fixed_trimmed(D("100.000")) == "100"
    assert fixed_to(D("0.099999999981"), Step.of(D("0.01"))) == "0.10"
    assert fixed_to(D("9499.500000065047"), Step.of(D("0.01"))) == "9499.50"
