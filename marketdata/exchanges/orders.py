"""Order calls: an order sent once under our client order id, looked up by it, read back.

Written once, asynchronously (`AsyncOrderSession`: many orders of one account in flight on one
ccxt client, as a batch of live runs sends them); the synchronous `create_order` and
`fetch_order_by_client_id` run that same code for one order. Every request goes through the
client factory's hooks (the shared rate limit, the answer check) and every error through
`errors.translate`, as the other calls do.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from marketdata.exchanges.clients import async_ccxt_client
from marketdata.exchanges.errors import ExchangeError, last_response, translate
from marketdata.exchanges.results import ExchangeConfig, OrderResult
from marketdata.exchanges.retries import call_with_retry_async, log_failure
from marketdata.exchanges.validation import validate_order
from marketdata.models import ExchangeAccount

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


@asynccontextmanager
async def async_order_session(
    config: ExchangeConfig, account: ExchangeAccount
) -> AsyncIterator[AsyncOrderSession]:
    """Order calls of one account (read before the event loop runs); its client is closed on
    the way out."""
    async with async_ccxt_client(config, account) as client:
        yield AsyncOrderSession(config.name, client)


@dataclass
class AsyncOrderSession:
    """Order calls on one account's async ccxt client; any number may be in flight at once."""

    name: str
    client: Any

    async def create_order(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        amount: Decimal,
        price: Decimal | None,
        client_order_id: str,
    ) -> OrderResult:
        """Send one order, once. A timeout raises TemporaryExchangeError without retrying: the
        order may exist, so the caller must look it up by `client_order_id` before sending
        again. After the exchange accepts it, its state (fills, fee) is read back when
        possible."""
        what = f"{self.name} create_order {client_order_id}"
        last_response.set(None)
        try:
            raw = await self.client.create_order(
                symbol,
                type,
                side,
                float(amount),
                float(price) if price is not None else None,
                client_order_params(self.client.id, client_order_id),
            )
            created = validate_order(raw, client_order_id, requested=amount)
        except Exception as error:
            ours = translate(error)
            log_failure(what, ours)
            raise ours from error
        return await self._read_back(created, symbol=symbol, what=what)

    async def _read_back(self, created: OrderResult, *, symbol: str, what: str) -> OrderResult:
        """The accepted order's state as the exchange now has it (fills, fee); the create's own
        answer when the read-back fails or tells of another order: the order was placed either
        way, and another order's fills are not ours."""
        params = FETCH_ORDER_PARAMS.get(self.client.id, {})
        try:
            read = await call_with_retry_async(
                f"{what} read-back",
                lambda: self._validated(
                    self.client.fetch_order(created.exchange_order_id, symbol, params),
                    created.client_order_id,
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

    async def fetch_order_by_client_id(self, *, symbol: str, client_order_id: str) -> OrderResult:
        """The order the exchange knows under our client order id; raises OrderNotFound."""
        params = {
            **FETCH_ORDER_PARAMS.get(self.client.id, {}),
            **client_order_params(self.client.id, client_order_id),
        }
        return await call_with_retry_async(
            f"{self.name} fetch_order {client_order_id}",
            lambda: self._validated(self.client.fetch_order(None, symbol, params), client_order_id),
        )

    @staticmethod
    async def _validated(answer: Awaitable[Any], client_order_id: str) -> OrderResult:
        return validate_order(await answer, client_order_id)


def _one_order_call(
    account: ExchangeAccount, call: Callable[[AsyncOrderSession], Awaitable[T]]
) -> T:
    """Run one order call on a session of its own, in an event loop of its own."""
    config = ExchangeConfig.of(account.exchange)  # database reads stay outside the loop

    async def session_call() -> T:
        async with async_order_session(config, account) as session:
            return await call(session)

    return asyncio.run(session_call())


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
    """`AsyncOrderSession.create_order` for one order, from synchronous code."""
    return _one_order_call(
        account,
        lambda session: session.create_order(
            symbol=symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
            client_order_id=client_order_id,
        ),
    )


def fetch_order_by_client_id(
    *, account: ExchangeAccount, symbol: str, client_order_id: str
) -> OrderResult:
    """`AsyncOrderSession.fetch_order_by_client_id` for one order, from synchronous code."""
    return _one_order_call(
        account,
        lambda session: session.fetch_order_by_client_id(
            symbol=symbol, client_order_id=client_order_id
        ),
    )
