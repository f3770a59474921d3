"""What the gateway returns: frozen dataclasses, and the exchange settings a client needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from marketdata.models import Exchange, Market


@dataclass(frozen=True)
class OrderResult:
    exchange_order_id: str
    client_order_id: str
    status: str  # "open" | "filled" | "canceled"
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    fee: Decimal


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class MarketInfo:
    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    active: bool
    precision: dict[str, Any]
    limits: dict[str, Any]
    # How `precision` counts: the exchange's ccxt precisionMode (kernel.decimals.PrecisionMode).
    precision_mode: int = 4
    # ccxt's own market structure as loaded: handed back to ccxt, which needs the
    # exchange-specific fields (Binance's filters, OKX's instType) to build requests.
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CandleData:
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    is_closed: bool


@dataclass(frozen=True)
class TickerData:
    symbol: str
    time: datetime
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    high: Decimal | None
    low: Decimal | None
    volume: Decimal | None


@dataclass(frozen=True)
class ExchangeConfig:
    """What a client needs from an `Exchange` row, read before any async code runs."""

    name: str
    ccxt_id: str
    api_url: str
    markets: tuple[MarketInfo, ...] = ()
    api_urls: dict[str, str] = field(default_factory=dict, hash=False)
    sandbox: bool = False

    @classmethod
    def of(cls, exchange: Exchange, *, with_markets: bool = True) -> ExchangeConfig:
        markets = tuple(market_info(m) for m in exchange.markets.all()) if with_markets else ()
        return cls(
            exchange.name,
            exchange.ccxt_id,
            exchange.api_url,
            markets,
            dict(exchange.api_urls or {}),
            exchange.sandbox,
        )


def market_info(market: Market) -> MarketInfo:
    return MarketInfo(
        market.symbol,
        market.exchange_symbol,
        market.base,
        market.quote,
        market.active,
        market.precision,
        market.limits,
        market.precision_mode,
        market.ccxt_market,
    )
