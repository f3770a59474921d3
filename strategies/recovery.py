"""Recovery from lost processes: runs no process holds, and live orders no one confirmed.

A `running` run whose lease (its advisory lock) is free has no process behind it: the worker
was killed, or its database session died with the server. Such a run is settled at once, by
the next delivery of its strategy (`strategies.runs`) or by the periodic sweep: its live
order is looked up at the exchange by client order id and recorded as the exchange has it,
and the run ends by that order's outcome. A decision the lost run never made is not made
late: the next tick decides afresh.

A live order left `new` (its answer lost, or its run failed unconfirmed) is reconciled the
same way, by the sweep and before the next run of its strategy decides. One the exchange does
not know is rejected only once no process can still be sending it: after the hard time
limit, which kills any task still running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from marketdata import exchanges
from project.kernel.locks import LockPurpose, lock_key, lock_key_sql, lock_release, lock_try
from strategies.live_orders import order_record_placed
from strategies.models import Order, Strategy, StrategyRun

logger = logging.getLogger(__name__)

RUNNING = StrategyRun.Status.RUNNING
PLACED = (Order.Status.OPEN, Order.Status.FILLED, Order.Status.CANCELED)
# The sweep leaves a just-lost run to its own redelivery (a killed pool process's message
# comes back at once and resumes it) for this long; the next tick does not wait.
SWEEP_GRACE = timedelta(seconds=10)
ABANDONED = "Abandoned"
# A run's lease in SQL, the key of the row's `id`: taken in the statement that writes or
# finds the run (runs.py uses it too).
LEASE_SQL = lock_key_sql(LockPurpose.RUN_LEASE, "id")

# Running runs past the grace whose lease this session can take: no process holds them. The
# lease is taken in the statement, so no one else settles them meanwhile.
ORPHANED_SQL = (
    "WITH candidates AS MATERIALIZED ("  # noqa: S608
    f"SELECT id FROM {StrategyRun._meta.db_table} WHERE status = %s AND started_at < %s "
    "ORDER BY started_at LIMIT %s) "
    f"SELECT id FROM candidates WHERE pg_try_advisory_lock({LEASE_SQL})"
)
SWEEP_LIMIT = 500


def order_send_bound() -> timedelta:
    """After this long no process can still be sending an order: the hard limit kills it."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def _with_exchange(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("strategy__market", "strategy__account__exchange")


def live_order_reconcile(order: Order, *, now: datetime) -> bool:
    """Make a `new` live order say what the exchange says; True once it is no longer new.

    It stays new while the exchange cannot answer, or does not know it yet but a process might
    still be sending it.
    """
    account, symbol = order.strategy.account, order.strategy.market.symbol
    try:
        if account is None:
            raise exchanges.OrderNotFound("no exchange account")
        placed = exchanges.fetch_order_by_client_id(
            account=account, symbol=symbol, client_order_id=order.client_order_id
        )
    except exchanges.OrderNotFound:
        if now - order.created_at < order_send_bound():
            return False
        return _order_reject_unplaced(order, now=now)
    except exchanges.ExchangeError as error:
        logger.warning("order %s not reconciled: %s", order.client_order_id, error)
        return False
    order_record_placed(order, placed)
    logger.warning("order %s reconciled: %s at the exchange", order.client_order_id, order.status)
    return True


def _order_reject_unplaced(order: Order, *, now: datetime) -> bool:
    """The exchange does not know the order and no process can still send it: it never left."""
    reason = (
        "never reached the exchange: its worker was lost before it was sent, and the exchange "
        "does not know its client order id"
    )
    updated = Order.objects.filter(pk=order.pk, status=Order.Status.NEW).update(
        status=Order.Status.REJECTED, error_message=reason, updated_at=now
    )
    order.status, order.error_message = Order.Status.REJECTED, reason
    logger.warning("order %s rejected: %s", order.client_order_id, reason)
    return bool(updated)


def live_orders_reconcile(*, now: datetime, strategy_id: int | None = None) -> int:
    """Reconcile the `new` live orders of ended runs (of one strategy, or all); how many were
    settled. Orders of running runs belong to their run's process, or to `run_settle`."""
    orders = Order.objects.filter(mode=Strategy.Mode.LIVE, status=Order.Status.NEW).exclude(
        run__status=RUNNING
    )
    if strategy_id is not None:
        orders = orders.filter(strategy_id=strategy_id)
    return sum(live_order_reconcile(order, now=now) for order in _with_exchange(orders))


def run_settle(run: StrategyRun, *, now: datetime) -> None:
    """End a running run no process holds (the caller holds its lease): by its order's outcome
    once the exchange confirms it, else failed with the reason."""
    orders = list(_with_exchange(Order.objects.filter(run_id=run.pk)))
    for order in orders:
        if order.status == Order.Status.NEW and order.mode == Strategy.Mode.LIVE:
            live_order_reconcile(order, now=now)
    placed = next((order for order in orders if order.status in PLACED), None)
    lost = "no process holds this run: its worker was lost before the run ended"
    if placed is not None:
        ended = {"status": StrategyRun.Status.SUCCEEDED, "signal": placed.side}
    elif orders:
        state = "was not placed" if orders[0].status == Order.Status.REJECTED else "is unconfirmed"
        message = f"{lost}; its order {orders[0].client_order_id} {state}"
        ended = {"status": StrategyRun.Status.FAILED, "signal": orders[0].side}
        ended |= {"error_class": ABANDONED, "error_message": message}
    else:
        message = f"{lost}, before it placed an order; the next tick decides afresh"
        ended = {"status": StrategyRun.Status.FAILED, "error_class": ABANDONED}
        ended["error_message"] = message
    # Only if still running: a run its own redelivery finished meanwhile stays as it ended.
    StrategyRun.objects.filter(pk=run.pk, status=RUNNING).update(finished_at=now, **ended)
    for name, value in ended.items():
        setattr(run, name, value)
    logger.warning("run %s of strategy %s settled: %s", run.pk, run.strategy_id, run.status)


def run_settle_if_abandoned(run: StrategyRun, *, now: datetime) -> bool:
    """Settle a running run if no process holds it (its lease is free); whether it was."""
    key = lock_key(LockPurpose.RUN_LEASE, run.pk)
    with connection.cursor() as cursor:
        if not lock_try(cursor, key):
            return False
    try:
        run_settle(run, now=now)
    finally:
        with connection.cursor() as cursor:
            lock_release(cursor, key)
    return True


@dataclass(frozen=True)
class Recovered:
    runs: int  # running runs settled
    orders: int  # unconfirmed live orders settled


def runs_recover(*, now: datetime | None = None) -> Recovered:
    """The sweep: settle every running run no process holds, then every unconfirmed live order."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(ORPHANED_SQL, [RUNNING.value, now - SWEEP_GRACE, SWEEP_LIMIT])
        ids = [row[0] for row in cursor.fetchall()]
    for run in StrategyRun.objects.filter(pk__in=ids):
        try:
            run_settle(run, now=now)
        finally:
            with connection.cursor() as cursor:
                lock_release(cursor, lock_key(LockPurpose.RUN_LEASE, run.pk))
    return Recovered(runs=len(ids), orders=live_orders_reconcile(now=now))
