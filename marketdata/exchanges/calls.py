"""Synchronous exchange calls: market lists and balances, each retried and validated."""

from __future__ import annotations

from marketdata.exchanges.clients import sync_client
from marketdata.exchanges.results import Balance, ExchangeConfig, MarketInfo
from marketdata.exchanges.retries import call_with_retry
from marketdata.exchanges.validation import validate_balances, validate_markets
from marketdata.models import Exchange, ExchangeAccount


def load_markets(*, exchange: Exchange) -> list[MarketInfo]:
    """Every market the exchange lists now (retried when temporary)."""
    config = ExchangeConfig.of(exchange, with_markets=False)

    def call() -> list[MarketInfo]:
        with sync_client(config) as client:
            markets = client.load_markets(reload=True).values()
            return validate_markets(markets, precision_mode=client.precisionMode)

    return call_with_retry(f"{exchange.name} load_markets", call)


def fetch_balances(*, account: ExchangeAccount) -> list[Balance]:
    """The account's balance per asset, as the exchange reports it now."""
    with sync_client(ExchangeConfig.of(account.exchange), account) as client:
        return call_with_retry(
            f"{account.exchange.name} fetch_balance",
            lambda: validate_balances(client.fetch_balance()),
        )
