"""Synchronous exchange calls: market lists, orders and balances, each retried and validated."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from marketdata.exchanges.clients import sync_client
from marketdata.exchanges.errors import ExchangeError, last_response, translate
from marketdata.exchanges.results import Balance, ExchangeConfig, MarketInfo, OrderResult
from marketdata.exchanges.retries import call_with_retry, log_failure
from marketdata.exchanges.validation import validate_balances, validate_markets, validate_order
from marketdata.models import Exchange, ExchangeAccount

logger = logging.getLogger(__name__)


def load_markets(*, exchange: Exchange) -> list[MarketInfo]:
    """Every market the exchange lists now (retried when temporary)."""
    config = ExchangeConfig.of(exchange, with_markets=False)

    def call() -> list[MarketInfo]:
        with sync_client(config) as client:
            markets = client.load_markets(reload=True).values()
            return validate_markets(markets, precision_mode=client.precisionMode)

    return call_with_retry(f"{exchange.name} load_markets", call)


def create_order(
    *,
    account: ExchangeAccount,
    symbol: str,
    side: str,
    type: str,
    amount: Decimal,
    price: Decimal | None,
    client_order_id: str,
) -> OrderResult:
    """Send one order, once. A timeout raises TemporaryExchangeError without retrying: the
    order may exist, so the caller must look it up by `client_order_id` before sending again.
    After the exchange accepts it, its state (fills, fee) is read back when possible."""
    what = f"{account.exchange.name} create_order {client_order_id}"
    with sync_client(ExchangeConfig.of(account.exchange), account) as client:
        last_response.set(None)
        try:
            raw = client.create_order(
                symbol,
                type,
                side,
                float(amount),
                float(price) if price is not None else None,
                client_order_params(client.id, client_order_id),
            )
            created = validate_order(raw, client_order_id, requested=amount)
        except Exception as error:
            ours = translate(error)
            log_failure(what, ours)
            raise ours from error
        return _order_read_back(
            client, created, symbol=symbol, client_order_id=client_order_id, what=what
        )


def _order_read_back(
    client: Any, created: OrderResult, *, symbol: str, client_order_id: str, what: str
) -> OrderResult:
    """The accepted order's state as the exchange now has it (fills, fee); the create's own
    answer when the read-back fails or tells of another order: the order was placed either
    way, and another order's fills are not ours."""
    try:
        read = call_with_retry(
            f"{what} read-back",
            lambda: validate_order(
                client.fetch_order(
                    created.exchange_order_id, symbol, FETCH_ORDER_PARAMS.get(client.id, {})
                ),
                client_order_id,
            ),
        )
    except ExchangeError:
        return created
    if read.exchange_order_id != created.exchange_order_id:
        logger.warning(
            "%s read-back: the exchange answered with order %s, not %s; its state is not used",
            what,
            read.exchange_order_id,
            created.exchange_order_id,
        )
        return created
    return read


# Where ccxt does not map its unified `clientOrderId` (Coinbase drops it and sends an id of its
# own; Bybit looks up by orderLinkId only), the exchange's own parameter, passed through.
CLIENT_ORDER_ID_PARAMS = {
    "bitstamp": "client_order_id", "coinbase": "client_order_id", "bybit": "orderLinkId"
}  # fmt: skip
# ccxt's Bybit reads a unified account's order only when told that it sees the last 500 orders
# alone: ours are read right after placing them, or looked up after a timeout.
FETCH_ORDER_PARAMS: dict[str, dict[str, object]] = {"bybit": {"acknowledged": True}}


CLIENT_ORDER_ID_NAMESPACE = uuid.UUID("5f0c6a8e-3d2b-4c1a-9e7f-7469636b776b")


def exchange_client_order_id(ccxt_id: str, client_order_id: str) -> str:
    """Our client order id in the form the exchange accepts; the same id gives the same form,
    so a resent order or a lookup carries what the first attempt carried."""
    if ccxt_id == "okx":
        # Letters and digits only ([a-zA-Z0-9]{1,32}): "-" becomes "x", which our ids
        # ("tw-<strategy>-<tick>") never hold otherwise, so distinct ids stay distinct.
        return client_order_id.replace("-", "x")
    if ccxt_id == "kraken":
        # cl_ord_id takes a UUID or at most 18 characters of free text; ours are longer.
        return str(uuid.uuid5(CLIENT_ORDER_ID_NAMESPACE, client_order_id))
    return client_order_id


def client_order_params(ccxt_id: str, client_order_id: str) -> dict[str, str]:
    """How an order (or a lookup) carries our client order id on this exchange."""
    sent = exchange_client_order_id(ccxt_id, client_order_id)
    return {CLIENT_ORDER_ID_PARAMS.get(ccxt_id, "clientOrderId"): sent}


def fetch_order_by_client_id(
    *, account: ExchangeAccount, symbol: str, client_order_id: str
) -> OrderResult:
    """The order the exchange knows under our client order id; raises OrderNotFound."""
    with sync_client(ExchangeConfig.of(account.exchange), account) as client:
        raw = call_with_retry(
            f"{account.exchange.name} fetch_order {client_order_id}",
            lambda: client.fetch_order(
                None,
                symbol,
                {
                    **FETCH_ORDER_PARAMS.get(client.id, {}),
                    **client_order_params(client.id, client_order_id),
                },
            ),
        )
        return validate_order(raw, client_order_id)


def fetch_balances(*, account: ExchangeAccount) -> list[Balance]:
    """The account's balance per asset, as the exchange reports it now."""
    with sync_client(ExchangeConfig.of(account.exchange), account) as client:
        return call_with_retry(
            f"{account.exchange.name} fetch_balance",
            lambda: validate_balances(client.fetch_balance()),
        )
