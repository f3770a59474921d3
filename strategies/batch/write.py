"""A batch's writes, set-based: the runs that end without an order in one statement, the paper
fills (order, position, run end) in another.

Each row is what a single run writes (`strategies.runs`, `strategies.orders`): the fill and
its fee by the one order computation (`orders.paper_fill_of`, `strategies.ordering`), the
position moved only if it is still as the batch read it. A fill the position refuses or that
changed under it is left to the caller (`PaperFills.fallback`), which fills it the single
run's way, locked.
Statements commit without waiting for the disk; the batch's last one waits once for them all
(`claim.leases_release_flushing`), as `commits_flush` does after a single run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from strategies.batch.decide import SUCCEEDED, Outcome
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.ordering import Refusal
from strategies.orders import _fill_fields, client_order_id, paper_fill_of

RUNS = StrategyRun._meta.db_table
POSITIONS = PaperPosition._meta.db_table
ORDERS = Order._meta.db_table
RELAXED = "set_config('synchronous_commit', 'off', true)"

ENDED_SQL = f"""
WITH v AS (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
                                %s::text[], %s::text[])
             AS v(id, status, signal, reason, error_class, error_message, parameters))
UPDATE {RUNS} AS r SET status = v.status, finished_at = %s, signal = v.signal, reason = v.reason,
       error_class = v.error_class, error_message = v.error_message,
       parameters = v.parameters::jsonb
  FROM v WHERE r.id = v.id
RETURNING {RELAXED}
"""  # noqa: S608 - table names only


def runs_end(outcomes: Sequence[Outcome], *, now: datetime) -> None:
    """End the runs that place no order (held, skipped, failed), in one statement."""
    if not outcomes:
        return
    columns: list[list[Any]] = [[] for _ in range(7)]
    for outcome in outcomes:
        row = (outcome.run.pk, outcome.status, outcome.signal, outcome.reason)
        row += (outcome.error_class, outcome.error_message, json.dumps(outcome.run.parameters))
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        outcome.run.status, outcome.run.finished_at = outcome.status, now
    with connection.cursor() as cursor:
        cursor.execute(ENDED_SQL, [*columns, now])


ORDER_COLUMNS = (
    "strategy_id",
    "run_id",
    "mode",
    "side",
    "type",
    "amount",
    "price",
    "filled_amount",
    "average_price",
    "fee",
    "status",
    "client_order_id",
    "exchange_order_id",
)
ORDER_TYPES = ("bigint", "bigint", *["text"] * 3, *["numeric"] * 5, *["text"] * 3)
BOOK = ("base_amount", "quote_balance", "average_entry_price", "fees_paid")


def _fills_sql() -> str:
    """Positions moved (only where still as read, or created where still absent), then the
    orders of the moved ones written filled, then their runs ended succeeded."""
    order_arrays = ", ".join(f"%s::{kind}[]" for kind in ORDER_TYPES)
    book_arrays = ", ".join(["%s::numeric[]"] * 8)
    read = " AND ".join(f"p.{c} IS NOT DISTINCT FROM v.read_{c}" for c in BOOK)
    names = [*ORDER_COLUMNS, *BOOK, *(f"read_{c}" for c in BOOK)]
    return f"""
WITH v AS (SELECT * FROM unnest({order_arrays}, {book_arrays}, %s::bool[], %s::text[])
             AS v({", ".join(names)}, fresh, parameters)),
moved AS (UPDATE {POSITIONS} AS p SET {", ".join(f"{c} = v.{c}" for c in BOOK)},
                 updated_at = %(now)s
            FROM v WHERE NOT v.fresh AND p.strategy_id = v.strategy_id AND {read}
          RETURNING p.strategy_id),
made AS (INSERT INTO {POSITIONS} (strategy_id, {", ".join(BOOK)}, updated_at)
         SELECT v.strategy_id, {", ".join(f"v.{c}" for c in BOOK)}, %(now)s FROM v WHERE v.fresh
         ON CONFLICT DO NOTHING RETURNING strategy_id),
placed AS (INSERT INTO {ORDERS} ({", ".join(ORDER_COLUMNS)}, error_message, created_at,
                                 updated_at)
           SELECT {", ".join(f"v.{c}" for c in ORDER_COLUMNS)}, '', %(now)s, %(now)s FROM v
            WHERE v.strategy_id IN (SELECT strategy_id FROM moved
                                    UNION ALL SELECT strategy_id FROM made)
           RETURNING id, run_id),
ended AS (UPDATE {RUNS} AS r SET status = '{SUCCEEDED}', finished_at = %(now)s,
                 signal = v.side, parameters = v.parameters::jsonb
            FROM placed JOIN v ON v.run_id = placed.run_id WHERE r.id = placed.run_id
          RETURNING r.id)
SELECT id, {RELAXED} FROM ended
"""  # noqa: S608 - table names only


FILLS_SQL = _fills_sql().replace("%(now)s", "%s")


@dataclass
class PaperFills:
    """What the fill statement did: the runs it ended, and the orders it left to the caller."""

    done: list[StrategyRun] = field(default_factory=list)
    fallback: list[tuple[StrategyRun, Order]] = field(default_factory=list)


def paper_fills_write(outcomes: Sequence[Outcome], *, now: datetime) -> PaperFills:
    """Write every paper order filled, move its position and end its run, in one statement."""
    result, rows = PaperFills(), []
    for outcome in outcomes:
        order, row = _fill_row(outcome, now=now)
        if row is None:
            result.fallback.append((outcome.run, order))
        else:
            rows.append((outcome, order, row))
    if not rows:
        return result
    columns = [list(column) for column in zip(*(row for _, _, row in rows), strict=True)]
    # Each %(now)s of the statement, in order: moved, made, placed (twice), ended.
    with connection.cursor() as cursor:
        cursor.execute(FILLS_SQL, [*columns, now, now, now, now, now])
        ended = {run_id for run_id, _ in cursor.fetchall()}
    for outcome, order, _ in rows:
        if outcome.run.pk in ended:
            outcome.run.status, outcome.run.finished_at = SUCCEEDED, now
            result.done.append(outcome.run)
        else:
            result.fallback.append((outcome.run, order))
    return result


def _fill_row(outcome: Outcome, *, now: datetime) -> tuple[Order, tuple[Any, ...] | None]:
    """The new order, and its row for the statement (None if the position refuses it)."""
    run, plan = outcome.run, outcome.plan
    assert plan is not None
    order = Order(
        strategy=run.strategy,
        run=run,
        mode=Strategy.Mode.PAPER,
        side=plan.terms.side,
        type=Order.Type.MARKET,
        amount=plan.terms.amount,
        price=plan.terms.price,  # a paper order fills at the price it was sized at
        client_order_id=client_order_id(strategy_id=run.strategy_id, tick=run.scheduled_tick),
    )
    position = plan.paper_position
    price, filled = paper_fill_of(order, position=position, price=order.price)
    if isinstance(filled, Refusal):
        return order, None
    fill = _fill_fields(order, price=price, fee=filled.fee, now=now)
    values = [fill.get(name, getattr(order, name)) for name in ORDER_COLUMNS]
    read = [getattr(position, name) for name in BOOK]
    row = (*values, *filled.book, *read, position.pk is None, json.dumps(run.parameters))
    return order, row


def commits_flush() -> None:
    """Wait for the disk once, for every commit of this session made without waiting: a
    transaction with an id commits synchronously, and WAL is flushed in order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()")
