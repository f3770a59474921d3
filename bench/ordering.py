"""Benchmark: sizing and paper fills per second, our `strategies.ordering` against ccxt's own.

The anchor sizes the same orders through ccxt itself (a `bitstamp` instance with the market
set, no network): `amount_to_precision` and `price_to_precision`, then the same value, fee and
book arithmetic on Decimals. Ours is `order_terms` + `paper_fill`, which the backtester calls
once per candle. Both alternate buys (100 USD) and sell-alls over the same prices, and must end
with the same book. The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import ccxt  # noqa: E402

from strategies.engine.base import Action, Signal  # noqa: E402
from strategies.ordering import MarketRules, PaperBook, order_terms, paper_fill  # noqa: E402

MARKET = {
    "id": "btcusd",
    "symbol": "BTC/USD",
    "base": "BTC",
    "quote": "USD",
    "baseId": "btc",
    "quoteId": "usd",
    "type": "spot",
    "spot": True,
    "active": True,
    "precision": {"amount": 0.00000001, "price": 0.01},
    "limits": {"amount": {"min": None}, "cost": {"min": 10}},
}
FEE = Decimal("0.001")
BUY, SELL = Signal(Action.BUY, quote_amount=Decimal(100)), Signal(Action.SELL)


def prices(count: int) -> list[Decimal]:
    return [Decimal(59000) + Decimal(n % 2000) / 3 for n in range(count)]


def ours(series: list[Decimal]) -> tuple[float, PaperBook]:
    rules = MarketRules.from_ccxt(MARKET, precision_mode=ccxt.bitstamp().precisionMode)
    book = PaperBook(Decimal(0), Decimal(10**9), None, Decimal(0))
    started = time.perf_counter()
    for n, price in enumerate(series):
        terms = order_terms(rules, BUY if n % 2 == 0 else SELL, price=price, held=book.base)
        book = paper_fill(rules, book, terms, fee_rate=FEE).book
    return time.perf_counter() - started, book


def theirs(series: list[Decimal]) -> tuple[float, PaperBook]:
    exchange = ccxt.bitstamp()
    exchange.set_markets([MARKET])
    cent = Decimal("0.01")
    base, quote, fees = Decimal(0), Decimal(10**9), Decimal(0)
    started = time.perf_counter()
    for n, raw in enumerate(series):
        price = Decimal(exchange.price_to_precision("BTC/USD", raw))
        wanted = Decimal(100) / price if n % 2 == 0 else base
        amount = Decimal(exchange.amount_to_precision("BTC/USD", wanted))
        value = (amount * price).quantize(cent, rounding="ROUND_HALF_UP")
        fee = (value * FEE).quantize(cent, rounding="ROUND_HALF_UP")
        if n % 2 == 0:
            base, quote = base + amount, quote - value - fee
        else:
            base, quote = base - amount, quote + value - fee
        fees += fee
    return time.perf_counter() - started, PaperBook(base, quote, None, fees)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=200_000)
    args = parser.parse_args()
    series = prices(args.fills)
    ours_seconds, our_book = ours(series)
    their_seconds, their_book = theirs(series)
    if our_book._replace(average_entry=None) != their_book:
        raise SystemExit(f"the books differ: ours {our_book}, ccxt's {their_book}")
    figures = {
        "fills": args.fills,
        "ours_fills_per_s": round(args.fills / ours_seconds),
        "ccxt_fills_per_s": round(args.fills / their_seconds),
        "ratio": round(their_seconds / ours_seconds, 2),
        "loadavg": os.getloadavg(),
    }
    print(f"ours {figures['ours_fills_per_s']:,}/s, ccxt's {figures['ccxt_fills_per_s']:,}/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
