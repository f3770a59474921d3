"""The one gateway to exchanges: the only package that imports ccxt.

Clients come from one factory (`clients`), pointed by `endpoints`, spaced by a rate limit
shared through Redis (`ratelimit`); orders are sent asynchronously, many at once or one
(`orders`); ccxt's errors become ours in `errors.translate`; temporary
failures are retried (`retries`); every answer is validated (`validation`) and returned as
frozen dataclasses (`results`). Nothing here writes to the database.
"""

from marketdata.exchanges.calls import fetch_balances, load_markets
from marketdata.exchanges.clients import build_client
from marketdata.exchanges.collection import AsyncExchangeSession, async_client
from marketdata.exchanges.errors import (
    AuthenticationFailed,
    BadExchangeData,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    TemporaryExchangeError,
    describe,
    one_line,
    translate,
)
from marketdata.exchanges.orders import (
    AsyncOrderSession,
    async_order_session,
    create_order,
    fetch_order_by_client_id,
)
from marketdata.exchanges.results import (
    Balance,
    CandleData,
    ExchangeConfig,
    MarketInfo,
    OrderResult,
    TickerData,
    market_info,
)

__all__ = [
    "AsyncExchangeSession",
    "AsyncOrderSession",
    "AuthenticationFailed",
    "BadExchangeData",
    "Balance",
    "CandleData",
    "ExchangeConfig",
    "ExchangeError",
    "InsufficientFunds",
    "InvalidOrder",
    "MarketInfo",
    "OrderNotFound",
    "OrderResult",
    "TemporaryExchangeError",
    "TickerData",
    "async_client",
    "async_order_session",
    "build_client",
    "create_order",
    "describe",
    "fetch_balances",
    "fetch_order_by_client_id",
    "load_markets",
    "market_info",
    "one_line",
    "translate",
]
