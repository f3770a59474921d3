"""The client factory: sync and async ccxt clients for an `Exchange` row, one way for all."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from typing import Any

import aiohttp
from django.conf import settings

from marketdata.exchanges.endpoints import endpoints_apply
from marketdata.exchanges.errors import BadExchangeData, ExchangeError, last_response
from marketdata.exchanges.ratelimit import rate_limit_interval_ms, reserve_request_slot
from marketdata.exchanges.results import ExchangeConfig, MarketInfo
from marketdata.models import ExchangeAccount


def _checked_body(status: int, headers: Any, body: Any) -> None:
    """Remember status and headers for this call; reject a 2xx answer that is not JSON."""
    last_response.set((int(status or 0), dict(headers or {})))
    if 200 <= int(status or 0) < 300 and isinstance(body, str) and body.strip():
        try:
            json.loads(body)
        except ValueError:
            raise BadExchangeData(f"the answer is not JSON: {body[:80]!r}") from None


class _SyncHooks:
    tickwork_name: str = ""

    def throttle(self, cost: float | None = None) -> None:
        interval = rate_limit_interval_ms(self.tickwork_name, self.rateLimit)  # type: ignore[attr-defined]
        delay = reserve_request_slot(self.tickwork_name, interval, cost or 1)
        if delay > 0:
            time.sleep(delay)

    def on_rest_response(self, code, reason, url, method, headers, body, *rest):  # type: ignore[no-untyped-def]
        _checked_body(code, headers, body)
        return body


class _AsyncHooks:
    tickwork_name: str = ""

    async def throttle(self, cost: float | None = None) -> None:
        interval = rate_limit_interval_ms(self.tickwork_name, self.rateLimit)  # type: ignore[attr-defined]
        delay = reserve_request_slot(self.tickwork_name, interval, cost or 1)
        if delay > 0:
            await asyncio.sleep(delay)

    def on_rest_response(self, code, reason, url, method, headers, body, *rest):  # type: ignore[no-untyped-def]
        _checked_body(code, headers, body)
        return body


@cache
def _client_class(ccxt_id: str, asynchronous: bool) -> type:
    # ccxt is imported with the first client, not with this package: its exchange classes take
    # about 95 MB, which the beat and web processes (they import the package through the task
    # modules and the admin) would carry without ever calling an exchange.
    module = importlib.import_module("ccxt.async_support" if asynchronous else "ccxt")
    base = getattr(module, ccxt_id, None)
    if not isinstance(base, type):
        raise ExchangeError(f"ccxt knows no exchange {ccxt_id!r}")
    hooks = _AsyncHooks if asynchronous else _SyncHooks
    return type(f"Tickwork{base.__name__}", (hooks, base), {})


def ccxt_api_urls(ccxt_id: str) -> Any:
    """ccxt's own `urls['api']` of an exchange (a URL or a mapping of API families)."""
    return _client_class(ccxt_id, False)().urls.get("api")


def build_client(
    config: ExchangeConfig, account: ExchangeAccount | None = None, *, asynchronous: bool = False
) -> Any:
    """A ccxt client for the exchange (and account), on its testnet when `sandbox` is set and
    at `api_url` / `api_urls` when given (see `endpoints_apply`).

    Markets known in the database are handed to ccxt so that it does not reload them on every
    call; the shared rate limit replaces ccxt's per-object one. Async clients must be closed:
    use `async_ccxt_client()`.
    """
    options: dict[str, Any] = {"timeout": settings.EXCHANGE_TIMEOUT_MS, "enableRateLimit": True}
    if account is not None:
        options.update(apiKey=account.api_key, secret=account.api_secret)
        if account.api_passphrase:
            options["password"] = account.api_passphrase
    client = _client_class(config.ccxt_id, asynchronous)(options)
    client.tickwork_name = config.name
    endpoints_apply(
        client, sandbox=config.sandbox, api_url=config.api_url, api_urls=config.api_urls
    )
    if config.markets:
        client.set_markets([_ccxt_market(m) for m in config.markets])
    return client


def _ccxt_market(market: MarketInfo) -> dict[str, Any]:
    """The market as ccxt loaded it when we have that, else the fields every spot call needs."""
    if market.raw:
        return market.raw
    return {
        "id": market.exchange_symbol,
        "symbol": market.symbol,
        "base": market.base,
        "quote": market.quote,
        "baseId": market.base.lower(),
        "quoteId": market.quote.lower(),
        "active": market.active,
        "type": "spot",
        "spot": True,
        "precision": market.precision,
        "limits": market.limits,
    }


@asynccontextmanager
async def async_ccxt_client(
    config: ExchangeConfig, account: ExchangeAccount | None = None
) -> AsyncIterator[Any]:
    """An async ccxt client on one exchange (and account), always closed on the way out."""
    client = build_client(config, account, asynchronous=True)
    # ccxt's own connector caps connections at 100; EXCHANGE_CONCURRENCY is the bound we mean.
    client.tcp_connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
    client.session = aiohttp.ClientSession(connector=client.tcp_connector)
    # aiohttp's connector.close() already waits until each connection has closed; ccxt's own
    # fixed pause after it (timeout_on_exit, 250 ms) would only delay every collection round.
    client.timeout_on_exit = 0
    try:
        yield client
    finally:
        await client.close()


@contextmanager
def sync_client(config: ExchangeConfig, account: ExchangeAccount | None = None) -> Iterator[Any]:
    client = build_client(config, account)
    try:
        yield client
    finally:
        client.close()
