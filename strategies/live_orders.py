"""Live orders at the exchange: sent once per client order id, many in flight together, and
recorded as the exchange answers each.

One way for one order (`live_order_send`, a single run's) and for many (`live_orders_send`, a
batch's runs): the exchange is asked for the client order id first (a resumed run's order may
have left before its worker died), and an order is created only if the exchange does not know
it. A create that times out may have been placed too, so it is looked up again before it is
sent once more; if the exchange still will not say, the order stays `new` (OrderUnconfirmed)
rather than risk a second one, for `strategies.recovery` to settle.

Orders are sent in one event loop (`asyncio.run`) through the gateway's async order sessions,
one per account, at most EXCHANGE_CONCURRENCY orders at once per exchange; every request is
within the exchange's shared rate limit and every error is translated by the gateway. One
order failing never stops the others. Database reads and writes happen before and after the
loop, never in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from marketdata import exchanges
from marketdata.accounts import account_mark_needs_attention
from marketdata.models import ExchangeAccount
from strategies.errors import OrderNotSent, OrderUnconfirmed
from strategies.models import Order

logger = logging.getLogger(__name__)

# Lookup-then-create attempts of a live order whose answers time out.
LIVE_SEND_ATTEMPTS = 2
LIVE_STATUSES = {
    "open": Order.Status.OPEN,
    "filled": Order.Status.FILLED,
    "canceled": Order.Status.CANCELED,
}
# What sending an order came to: the order as the exchange has it, or why it is not placed.
Sent = Order | OrderNotSent | OrderUnconfirmed
# What the exchange said of one order: its state, or the error of the last attempt.
Answer = exchanges.OrderResult | exchanges.ExchangeError


def live_order_send(order: Order) -> Order:
    """Send one live order written but not yet sent (see the module); the order as recorded.

    Raises OrderNotSent when it certainly never reached the exchange, OrderUnconfirmed when
    the exchange would not say."""
    sent = live_orders_send([order])[0]
    if isinstance(sent, Exception):
        raise sent
    return sent


@dataclass(frozen=True)
class _Send:
    """One order's request, read from the database before the event loop runs."""

    index: int
    account: ExchangeAccount
    config: exchanges.ExchangeConfig
    symbol: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None
    client_order_id: str


def live_orders_send(orders: Sequence[Order]) -> list[Sent]:
    """Send live orders written but not yet sent, in flight together; each one's outcome, in
    the order given: the order recorded as the exchange has it, or the error saying why not."""
    outcomes: list[Sent | None] = [None] * len(orders)
    sends = _sends_of(orders, outcomes)
    answers = asyncio.run(_sends_place(sends)) if sends else []
    for send, answer in zip(sends, answers, strict=True):
        outcomes[send.index] = _recorded(orders[send.index], send.account, answer)
    return [outcome for outcome in outcomes if outcome is not None]


def _sends_of(orders: Sequence[Order], outcomes: list[Sent | None]) -> list[_Send]:
    """The requests, with each account and its exchange's settings read once; an order with
    no account is refused in `outcomes`."""
    account_ids = {order.strategy.account_id for order in orders} - {None}
    accounts = ExchangeAccount.objects.select_related("exchange").in_bulk(account_ids)
    configs = {
        account.exchange_id: exchanges.ExchangeConfig.of(account.exchange)
        for account in accounts.values()
    }
    sends = []
    for index, order in enumerate(orders):
        account = accounts.get(order.strategy.account_id)
        if account is None:
            outcomes[index] = OrderNotSent("live trading needs an exchange account")
            continue
        sends.append(
            _Send(
                index,
                account,
                configs[account.exchange_id],
                order.strategy.market.symbol,
                order.side,
                order.type,
                order.amount,
                order.price,
                order.client_order_id,
            )
        )
    return sends


async def _sends_place(sends: Sequence[_Send]) -> list[Answer]:
    """Every order placed (or found placed), one session per account, a bound per exchange."""
    bounds: dict[str, asyncio.Semaphore] = {}
    per_account: dict[int, list[_Send]] = {}
    for send in sends:
        per_account.setdefault(send.account.pk, []).append(send)
        bounds.setdefault(send.config.name, asyncio.Semaphore(settings.EXCHANGE_CONCURRENCY))
    groups = list(per_account.values())
    answered = await asyncio.gather(
        *(_account_place(group, bounds[group[0].config.name]) for group in groups)
    )
    answers: dict[int, Answer] = {}
    for group, group_answers in zip(groups, answered, strict=True):
        answers |= {send.index: answer for send, answer in zip(group, group_answers, strict=True)}
    return [answers[send.index] for send in sends]


async def _account_place(sends: list[_Send], bound: asyncio.Semaphore) -> list[Answer]:
    first = sends[0]
    try:
        async with exchanges.async_order_session(first.config, first.account) as session:
            return list(await asyncio.gather(*(_place(session, bound, s) for s in sends)))
    except exchanges.ExchangeError as error:  # no client for the account: none left
        return [error] * len(sends)


async def _place(
    session: exchanges.AsyncOrderSession, bound: asyncio.Semaphore, send: _Send
) -> Answer:
    """The order as the exchange has it, found by its client order id or created now; else the
    last attempt's error (a temporary one: the exchange would not say)."""
    async with bound:
        error: exchanges.ExchangeError | None = None
        for _attempt in range(LIVE_SEND_ATTEMPTS):
            try:
                placed = await _lookup(session, send)
                if placed is None:
                    placed = await session.create_order(
                        symbol=send.symbol,
                        side=send.side,
                        type=send.type,
                        amount=send.amount,
                        price=send.price,
                        client_order_id=send.client_order_id,
                    )
                return placed
            except exchanges.TemporaryExchangeError as temporary:
                logger.warning("order %s not confirmed: %s", send.client_order_id, temporary)
                error = temporary
            except exchanges.ExchangeError as refused:
                return refused
            except Exception as unexpected:  # a fault of ours: it may have left; never resend
                logger.exception("order %s: unexpected failure", send.client_order_id)
                return exchanges.TemporaryExchangeError(exchanges.describe(unexpected))
        assert error is not None
        return error


async def _lookup(
    session: exchanges.AsyncOrderSession, send: _Send
) -> exchanges.OrderResult | None:
    try:
        return await session.fetch_order_by_client_id(
            symbol=send.symbol, client_order_id=send.client_order_id
        )
    except exchanges.OrderNotFound:
        return None


def _recorded(order: Order, account: ExchangeAccount, answer: Answer) -> Sent:
    """The order recorded as the exchange answered, or the error its run ends with."""
    if isinstance(answer, exchanges.OrderResult):
        return order_record_placed(order, answer)
    if isinstance(answer, exchanges.TemporaryExchangeError):
        return OrderUnconfirmed(
            f"the exchange did not confirm order {order.client_order_id} ({answer}); it stays "
            "new and is not resent blind"
        )
    if isinstance(answer, exchanges.AuthenticationFailed):
        account_mark_needs_attention(account_id=account.pk, reason=str(answer))
        return OrderNotSent(f"the exchange refused the account's keys: {answer}")
    return OrderNotSent(f"the exchange refused the order: {answer}")


def order_record_placed(order: Order, placed: exchanges.OrderResult) -> Order:
    """Record the order as the exchange has it: status, exchange id, fills and fee."""
    order.status = LIVE_STATUSES[placed.status]
    order.exchange_order_id = placed.exchange_order_id
    order.filled_amount = placed.filled
    order.average_price = placed.average_price
    order.fee = placed.fee
    order.save(
        update_fields=[
            "status",
            "exchange_order_id",
            "filled_amount",
            "average_price",
            "fee",
            "updated_at",
        ]
    )
    return order
