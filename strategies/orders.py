"""Sending an order once: the paper broker fills it here, the live one asks the exchange.

An order carries a client order id derived from its strategy and tick, so a resent order is
the same order. A live order is committed before it is sent and looked up by that id before
it is sent again (`strategies.live_orders`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from strategies import selectors
from strategies.errors import OrderNotSent
from strategies.live_orders import live_order_send
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.ordering import MarketRules, OrderTerms, PaperBook, PaperFill, Refusal, paper_fill

logger = logging.getLogger(__name__)


def client_order_id(*, strategy_id: int, tick: datetime) -> str:
    """The order id the exchange sees: one per (strategy, tick), so resending is harmless."""
    micros = (tick - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"tw-{strategy_id}-{micros}"


def order_send(order: Order) -> Order:
    """Send an order written but not yet sent, through its mode's sender; the order as it is now.

    A sender raises OrderNotSent only when the order certainly never reached a market (the
    caller marks it rejected). Any other error leaves the order `new`: it may have been sent,
    and only a lookup by its client order id can tell.
    """
    return ORDER_SENDERS[order.mode](order)


def paper_order_send(order: Order) -> Order:
    """Fill at the price the order was sized at (else the last price now), less the paper
    fee, and move the paper position, once.

    An order not yet written (no pk) is written filled: call that inside the transaction that
    ends its run.
    """
    refusal = None
    with transaction.atomic(savepoint=False):
        position = (
            PaperPosition.objects.select_for_update().filter(strategy_id=order.strategy_id).first()
        ) or PaperPosition(strategy_id=order.strategy_id)
        price = order.price if order.price is not None else _paper_price(order)
        price, filled = paper_fill_of(order, position=position, price=price)
        if isinstance(filled, Refusal):
            refusal = filled
        elif _order_mark_filled(order, price=price, fee=filled.fee):
            _position_apply(position, filled.book)
        else:
            order.refresh_from_db()  # it was filled before: leave everything as it is
    # Raised outside the block, which so has nothing to roll back in the caller's transaction.
    if refusal is not None:
        raise OrderNotSent(refusal.reason)
    return order


def _paper_price(order: Order) -> Decimal:
    last = selectors.last_price(
        market_id=order.strategy.market_id, timeframe=order.strategy.timeframe
    )
    if last is None:
        raise OrderNotSent("no price to fill the paper order at")
    return last.value


def paper_fill_of(
    order: Order, *, position: PaperPosition, price: Decimal
) -> tuple[Decimal, PaperFill | Refusal]:
    """The fill of `order` on `position` at `price` by the one order computation
    (`strategies.ordering`): the price at the market's tick, and the fill or its refusal."""
    rules = MarketRules.from_market(order.strategy.market)
    terms = OrderTerms(order.side, order.amount, rules.price_to_precision(price))
    book = PaperBook(
        position.base_amount,
        position.quote_balance,
        position.average_entry_price,
        position.fees_paid,
    )
    return terms.price, paper_fill(rules, book, terms, fee_rate=settings.PAPER_FEE_RATE)


def _order_mark_filled(order: Order, *, price: Decimal, fee: Decimal) -> bool:
    """Move the order from new to filled; False if it was not new (filled once already)."""
    fill = _fill_fields(order, price=price, fee=fee, now=timezone.now())
    if order.pk is not None and not (
        Order.objects.filter(pk=order.pk, status=Order.Status.NEW).update(**fill)
    ):
        return False
    for name, value in fill.items():
        setattr(order, name, value)
    if order.pk is None:
        order.save()  # not written yet: written filled, in the caller's transaction
    return True


def _fill_fields(order: Order, *, price: Decimal, fee: Decimal, now: datetime) -> dict[str, Any]:
    return {
        "status": Order.Status.FILLED,
        "price": price,
        "average_price": price,
        "filled_amount": order.amount,
        "fee": fee,
        "exchange_order_id": f"paper-{order.client_order_id}",
        "updated_at": now,
    }


def _position_apply(position: PaperPosition, book: PaperBook) -> None:
    for name, moved in zip(POSITION_AMOUNTS, book, strict=True):
        setattr(position, name, moved)
    position.save()


def paper_order_fill_ending_run(
    order: Order, *, position: PaperPosition, run: StrategyRun, ended: Sequence[str]
) -> bool:
    """Write a new paper order filled, move the position and end the run, in one statement.

    The run is ended in memory by `runs.run_end`, which named the fields to write (`ended`).
    `position` is as the run read it, unlocked. False, with nothing written, if it cannot take
    the order or has changed since: the caller then fills in a transaction with it locked.
    """
    price, filled = paper_fill_of(order, position=position, price=order.price)
    if isinstance(filled, Refusal):
        return False
    now = timezone.now()
    fill = {**_fill_fields(order, price=price, fee=filled.fee, now=now), "created_at": now}
    values = [
        field.get_db_prep_save(fill.get(field.attname, getattr(order, field.attname)), connection)
        for field in ORDER_FIELDS
    ]
    ending = [_db_value(run, name) for name in ended]
    if position.pk is None:
        sql = _fill_sql(tuple(ended), new_position=True)
        guard = [position.strategy_id, *filled.book, now]
    else:
        read = [getattr(position, column) for column in POSITION_AMOUNTS]
        sql, guard = _fill_sql(tuple(ended)), [*filled.book, now, position.strategy_id, *read]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*guard, *values, *ending, run.pk])
        row = cursor.fetchone()
    if row is None:
        return False
    for name, field_value in fill.items():
        setattr(order, name, field_value)
    order.pk, order._state.adding, order._state.db = row[0], False, connection.alias
    logger.info("run %s of strategy %s: %s", run.pk, run.strategy_id, run.status)
    return True


def _db_value(run: StrategyRun, name: str) -> Any:
    field = StrategyRun._meta.get_field(name)
    return field.get_db_prep_save(getattr(run, field.attname), connection)


ORDER_FIELDS = [field for field in Order._meta.concrete_fields if not field.primary_key]
POSITION_AMOUNTS = ("base_amount", "quote_balance", "average_entry_price", "fees_paid")
POSITION_COLUMNS = (*POSITION_AMOUNTS, "updated_at")


@functools.cache
def _fill_sql(ended: Sequence[str], *, new_position: bool = False) -> str:
    """The statement of a paper fill: the position moves (only if it is as it was read, or
    still absent), and only then is the order written filled and the run ended with the
    fields `runs.run_end` named (`ended`)."""
    table = PaperPosition._meta.db_table
    if new_position:
        placeholders = ", ".join(["%s"] * (len(POSITION_COLUMNS) + 1))
        position = (
            f"INSERT INTO {table} (strategy_id, {', '.join(POSITION_COLUMNS)}) "  # noqa: S608
            f"VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING 1"
        )
    else:
        assignments = ", ".join(f"{column} = %s" for column in POSITION_COLUMNS)
        # As it was read: whoever wrote it since (a reset, an update()), the fill backs off.
        guards = [f"{column} IS NOT DISTINCT FROM %s" for column in POSITION_AMOUNTS]
        position = (
            f"UPDATE {table} SET {assignments} "  # noqa: S608
            f"WHERE strategy_id = %s AND {' AND '.join(guards)} RETURNING 1"
        )
    # Typed placeholders: in INSERT ... SELECT the parameters get no type from the columns.
    typed = ", ".join(f"%s::{_cast_type(field)}" for field in ORDER_FIELDS)
    run_fields = [StrategyRun._meta.get_field(name) for name in ended]
    ending = ", ".join(f"{field.column} = %s::{_cast_type(field)}" for field in run_fields)
    return (
        f"WITH position AS ({position}), "  # noqa: S608
        f"placed AS (INSERT INTO {Order._meta.db_table} "
        f"({', '.join(field.column for field in ORDER_FIELDS)}) "
        f"SELECT {typed} FROM position RETURNING id), "
        f"ended AS (UPDATE {StrategyRun._meta.db_table} run SET {ending} "
        "FROM placed WHERE run.id = %s RETURNING placed.id) "
        # Committed without waiting for the disk, like the claim: the task's result, stored
        # before its message is acknowledged, commits synchronously and flushes this with it;
        # until then a crash of the database server loses the run whole, and the message is
        # delivered again.
        "SELECT id, set_config('synchronous_commit', 'off', true) FROM ended"
    )


def _cast_type(field: Field) -> str:
    # Text, not varchar(n): an explicit cast to varchar(n) would cut a long value silently.
    if field.get_internal_type() in {"CharField", "TextField"}:
        return "text"
    return field.db_type(connection)


ORDER_SENDERS: dict[str, Callable[[Order], Order]] = {
    Strategy.Mode.PAPER: paper_order_send,
    Strategy.Mode.LIVE: live_order_send,
}
