"""Running a strategy for one tick, exactly once: claim the run, decide, guard, place the order.

How "exactly once" holds with at-least-once delivery (acks_late, reject_on_worker_lost):
- The run row is unique per (strategy, tick). It is claimed in one transaction that first
  locks the strategy row, so two deliveries of one tick (a duplicate message, two beats)
  serialize: the second finds the row and records nothing.
- The process running a run holds a PostgreSQL advisory lock on it (its lease) until it is
  done. The server frees the lock when that process's connection dies. A delivery that finds
  its own run (same Celery task id) still `running` resumes it only if it can take the lease:
  the process that ran it is gone (a redelivery after a killed pool process); otherwise the
  run is alive elsewhere and this delivery records nothing.
- The order row carries a client order id derived from strategy and tick. A live order is
  committed before it is sent; a resumed run reuses its order and never decides again. A
  paper order, its fill, the position and the run's end commit in one transaction: a worker
  lost before that commit left nothing behind, and the redelivery decides afresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from marketdata import exchanges
from marketdata.accounts import account_mark_needs_attention
from marketdata.models import TIMEFRAME_DURATIONS, ExchangeAccount
from strategies import queries
from strategies.engine import Action, Bar, Signal, get_strategy_class
from strategies.engine.base import parameters_to_json
from strategies.engine.safety import candles_required, strategy_build, strategy_decide
from strategies.errors import (
    OrderNotSent,
    OrderUnconfirmed,
    StrategyCodeFailed,
    StrategyError,
)
from strategies.models import Order, PaperPosition, Strategy, StrategyRun

logger = logging.getLogger(__name__)

# Advisory lock keys of run leases: this namespace plus the run id (bigint keys).
LEASE_NAMESPACE = 0x7477 << 40
# How long a redelivered message waits for the lease of the run its dead process held: the
# server notices the closed connection within milliseconds, this is the generous bound.
RESUME_WAIT_SECONDS = 5.0
AMOUNT_STEP = Decimal("0.000000000001")  # the twelve decimal places of Order.amount
RUNNING = StrategyRun.Status.RUNNING
# Lookup-then-create attempts of a live order whose answers time out.
LIVE_SEND_ATTEMPTS = 2


def strategy_execute(
    *, strategy_id: int, scheduled_tick: datetime | None = None, task_id: str = ""
) -> StrategyRun | None:
    """Run the strategy for its tick (the trigger's tick now, unless given) at most once.

    Returns the run it recorded or completed, or None when this delivery had nothing to do
    (the tick's run exists: a duplicate delivery or a second beat). Failures of the strategy,
    its parameters or its market data are recorded on the run, never raised.
    Raises Strategy.DoesNotExist for an unknown id.
    """
    now = timezone.now()
    claimed = _run_claim(
        strategy_id=strategy_id, scheduled_tick=scheduled_tick, task_id=task_id, now=now
    )
    if claimed is None:
        return None
    run, resumed = claimed
    if run.status != RUNNING:
        return run
    try:
        _run_carry_out(run=run, resumed=resumed)
    finally:
        _lease_release(run)
    return run


def client_order_id(*, strategy_id: int, tick: datetime) -> str:
    """The order id the exchange sees: one per (strategy, tick), so resending is harmless."""
    micros = (tick - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"tw-{strategy_id}-{micros}"


def _run_claim(
    *, strategy_id: int, scheduled_tick: datetime | None, task_id: str, now: datetime
) -> tuple[StrategyRun, bool] | None:
    """The run this delivery owns (a running one with its lease taken, or a skipped one) and
    whether it is resumed; None if the tick's run belongs to someone else."""
    strategy = Strategy.objects.select_related("market").get(pk=strategy_id)
    if not strategy.is_active:
        # Whatever fired it (a stale row of another backend, a late message), a stopped or
        # paused strategy records nothing and never trades.
        logger.warning("strategy %s is not active; tick not run", strategy_id)
        return None
    tick = scheduled_tick if scheduled_tick is not None else strategy.trigger.tick_at(now)
    parameters = _parameters_snapshot(strategy)
    # Retried when the run in the way finishes, or turns out abandoned, meanwhile.
    for _attempt in range(3):
        run = _run_insert(
            strategy=strategy, tick=tick, task_id=task_id, parameters=parameters, now=now
        )
        if run is not None:
            return run, False
        runs = list(
            StrategyRun.objects.filter(
                Q(scheduled_tick=tick) | Q(status=RUNNING), strategy=strategy
            ).order_by("scheduled_tick")
        )
        existing = next((run for run in runs if run.scheduled_tick == tick), None)
        if existing is not None:
            if (
                existing.status == RUNNING
                and task_id
                and existing.celery_task_id == task_id
                and _lease_take(existing, wait=RESUME_WAIT_SECONDS)
            ):
                logger.warning("resuming run %s after its worker was lost", existing.pk)
                existing.strategy = strategy
                return existing, True
            return None
        in_progress = _run_in_progress(runs, now=now)
        if in_progress is not None:
            reason = (
                f"the run for tick {in_progress.scheduled_tick.isoformat()} is still in progress"
            )
            skipped = _run_insert(
                strategy=strategy,
                tick=tick,
                task_id=task_id,
                parameters=parameters,
                now=now,
                skipped_because=reason,
            )
            return (skipped, False) if skipped is not None else None
    return None


RUN_COLUMNS = (
    "strategy_id",
    "scheduled_tick",
    "started_at",
    "finished_at",
    "status",
    "signal",
    "parameters",
    "reason",
    "error_class",
    "error_message",
    "celery_task_id",
)


def _run_insert(
    *,
    strategy: Strategy,
    tick: datetime,
    task_id: str,
    parameters: dict[str, Any],
    now: datetime,
    skipped_because: str = "",
) -> StrategyRun | None:
    """Insert the tick's run, running with its lease taken (or skipped, with the reason), in one
    statement; None if a unique constraint is in the way: the tick has its run already, or
    (for a running one) the strategy has a run in progress."""
    status = StrategyRun.Status.SKIPPED if skipped_because else RUNNING
    finished_at = now if skipped_because else None
    values = [strategy.pk, tick, now, finished_at, status, "", json.dumps(parameters)]
    values += [skipped_because, "", "", task_id]
    placeholders = ", ".join("%s::jsonb" if c == "parameters" else "%s" for c in RUN_COLUMNS)
    # The lease is taken in the same statement, so no running row is ever without its holder.
    lease = "pg_try_advisory_lock(%s + id)" if status == RUNNING else "true"
    # The claim commits without waiting for the disk (set_config(..., true) holds for this
    # statement's transaction only): other deliveries see it at once, and the run's end, or
    # its live order, commits synchronously and flushes the claim with it. Only a crash of
    # the database server itself in between could lose it, and with it at most this tick.
    sql = (
        f"INSERT INTO {StrategyRun._meta.db_table} ({', '.join(RUN_COLUMNS)}) "  # noqa: S608
        f"VALUES ({placeholders}) ON CONFLICT DO NOTHING "
        f"RETURNING id, {lease}, set_config('synchronous_commit', 'off', true)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, LEASE_NAMESPACE] if status == RUNNING else values)
        row = cursor.fetchone()
    if row is None:
        return None
    run_id, leased, _ = row
    if not leased:
        raise RuntimeError(f"the lease of new run {run_id} is held by another session")
    run = StrategyRun.from_db(connection.alias, ["id", *RUN_COLUMNS], [run_id, *values])
    run.parameters = parameters
    run.strategy = strategy
    return run


def _run_in_progress(runs: list[StrategyRun], *, now: datetime) -> StrategyRun | None:
    """The strategy's run still in progress, if any; runs past any redelivery are abandoned."""
    horizon = now - timedelta(
        seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        + settings.CELERY_TASK_TIME_LIMIT
    )
    for run in runs:
        if run.status != RUNNING:
            continue
        if run.started_at < horizon and _lease_take(run, wait=0):
            _lease_release(run)
            _run_finish(
                run,
                StrategyRun.Status.FAILED,
                error_class="Abandoned",
                error_message="no worker finished this run before its message expired",
            )
            continue
        return run
    return None


def _parameters_snapshot(strategy: Strategy) -> dict[str, Any]:
    try:
        cleaned = get_strategy_class(strategy.kind).clean_parameters(strategy.parameters)
    except StrategyError:
        return strategy.parameters if isinstance(strategy.parameters, dict) else {}
    return parameters_to_json(cleaned)


def _run_carry_out(*, run: StrategyRun, resumed: bool) -> None:
    """Decide and place the order of a claimed run, and record how it ended."""
    strategy = run.strategy
    try:
        order = run.orders.first() if resumed else None
        if order is None:
            plan = _run_decide(run=run, strategy=strategy)
            if plan is None:
                return
            local = strategy.mode == Strategy.Mode.PAPER
            order = Order(
                strategy=strategy,
                run=run,
                mode=strategy.mode,
                side=plan.side,
                type=Order.Type.MARKET,
                amount=plan.amount,
                # A paper order fills at the price it was sized at.
                price=plan.price if local else None,
                client_order_id=client_order_id(strategy_id=strategy.pk, tick=run.scheduled_tick),
            )
            if local:
                # A paper fill touches only our database: the order is written filled, with
                # the position and the run's end, in one transaction.
                with transaction.atomic():
                    _order_complete(run=run, order=order)
            else:
                order.save()  # committed before it leaves
                _order_complete(run=run, order=order)
        else:
            _order_complete(run=run, order=order)
    except StrategyCodeFailed as error:
        _run_finish(
            run,
            StrategyRun.Status.FAILED,
            error_class=error.error_class,
            error_message=error.message,
        )
    except StrategyError as error:
        _run_finish(
            run,
            StrategyRun.Status.FAILED,
            error_class=type(error).__name__,
            error_message=str(error),
        )
    except Exception as error:
        # A fault of ours or of the database: record it if we still can, and let Celery see it.
        logger.exception("run %s of strategy %s failed", run.pk, strategy.pk)
        with contextlib.suppress(DatabaseError):
            _run_finish(
                run,
                StrategyRun.Status.FAILED,
                error_class=type(error).__name__,
                error_message=str(error),
            )
        raise


def _order_complete(*, run: StrategyRun, order: Order) -> None:
    """Send the order if it has not been, and end the run by the order's outcome."""
    error_class = "OrderNotSent"
    if order.status == Order.Status.NEW:
        try:
            order = order_send(order)
        except OrderNotSent as error:
            error_class = type(error).__name__
            order.status = Order.Status.REJECTED
            order.error_message = str(error)
            if order.pk is None:
                order.save()
            else:
                order.save(update_fields=["status", "error_message", "updated_at"])
    if order.status == Order.Status.REJECTED:
        _run_finish(
            run,
            StrategyRun.Status.FAILED,
            signal=order.side,
            error_class=error_class,
            error_message=order.error_message,
        )
    else:
        _run_finish(run, StrategyRun.Status.SUCCEEDED, signal=order.side)


@dataclass(frozen=True)
class OrderPlan:
    side: str
    amount: Decimal
    price: Decimal  # the last price when it was decided


def _run_decide(*, run: StrategyRun, strategy: Strategy) -> OrderPlan | None:
    """The order this run places, or None when the run ended here (hold, skip)."""
    now = timezone.now()
    cls = get_strategy_class(strategy.kind)
    instance = strategy_build(cls, cls.clean_parameters(strategy.parameters))
    needed = candles_required(instance)
    bars = queries.closed_bars(
        market_id=strategy.market_id, timeframe=strategy.timeframe, limit=needed
    )
    duration = TIMEFRAME_DURATIONS[strategy.timeframe]
    if not bars:
        return _run_skip(run, "stale market data: no closed candles")
    newest_closed_at = bars[-1].open_time + duration
    if now - newest_closed_at > 2 * duration:
        return _run_skip(
            run,
            f"stale market data: the newest closed candle ended at {newest_closed_at.isoformat()}",
        )
    if len(bars) < needed:
        return _run_skip(
            run, f"not enough market data: needs {needed} closed candles, has {len(bars)}"
        )

    signal = strategy_decide(instance, bars)
    run.signal = signal.action.value
    if signal.action is Action.HOLD:
        _run_finish(run, StrategyRun.Status.SUCCEEDED, signal=run.signal)
        return None
    return _order_plan(run=run, strategy=strategy, signal=signal, newest=bars[-1], now=now)


def _order_plan(
    *, run: StrategyRun, strategy: Strategy, signal: Signal, newest: Bar, now: datetime
) -> OrderPlan | None:
    """Size the order and apply the guardrails; None when they skip the run."""
    if settings.TRADING_KILL_SWITCH:
        return _run_skip(run, "kill switch is on: no orders are placed")
    price = queries.last_price(
        market_id=strategy.market_id, timeframe=strategy.timeframe, newest=newest
    )
    if price is None:
        return _run_skip(run, "no price to size the order with")
    # The position costs a query: read it only when a sell or a position limit needs it.
    needs_position = signal.action is Action.SELL or strategy.max_position is not None
    position = queries.strategy_position(strategy=strategy) if needs_position else None
    if signal.amount is not None:
        amount = signal.amount
    elif signal.quote_amount is not None:
        amount = signal.quote_amount / price.value
    else:
        amount = position
    amount = amount.quantize(AMOUNT_STEP, rounding=ROUND_DOWN)
    if amount <= 0:
        if signal.action is Action.SELL:
            return _run_skip(run, "nothing to sell: the position is empty")
        return _run_skip(run, "the order amount rounds to zero")

    placed_today = queries.orders_since(strategy_id=strategy.pk, since=queries.day_start(now))
    if placed_today >= strategy.max_orders_per_day:
        return _run_skip(
            run, f"max orders per day reached: {placed_today} of {strategy.max_orders_per_day}"
        )
    if signal.action is Action.BUY:
        if strategy.max_position is not None and position + amount > strategy.max_position:
            return _run_skip(
                run,
                f"max position {strategy.max_position} would be exceeded: "
                f"holding {position}, buying {amount}",
            )
    elif amount > position:
        return _run_skip(run, f"cannot sell {amount}: the position is {position}")

    return OrderPlan(side=signal.action.value, amount=amount, price=price.value)


def order_send(order: Order) -> Order:
    """Send an order written but not yet sent, through its mode's sender; the order as it is now.

    A sender raises OrderNotSent only when the order certainly never reached a market (the
    caller marks it rejected). Any other error leaves the order `new`: it may have been sent,
    and only a lookup by its client order id can tell.
    """
    return ORDER_SENDERS[order.mode](order)


def paper_order_send(order: Order) -> Order:
    """Fill at the last price, less the paper fee, and move the paper position, once.

    A new paper order that carries the price it was sized at fills at that price (else at the
    last price now). An order not yet written (no pk) is written filled: call that inside the
    transaction that ends its run.
    """
    problem = ""
    with transaction.atomic(savepoint=False):
        price = order.price
        if price is None:
            last = queries.last_price(
                market_id=order.strategy.market_id, timeframe=order.strategy.timeframe
            )
            if last is None:
                raise OrderNotSent("no price to fill the paper order at")
            price = last.value
        position = (
            PaperPosition.objects.select_for_update().filter(strategy_id=order.strategy_id).first()
        ) or PaperPosition(strategy_id=order.strategy_id)
        value = (order.amount * price).quantize(AMOUNT_STEP)
        fee = (value * settings.PAPER_FEE_RATE).quantize(AMOUNT_STEP)
        if order.side == Order.Side.BUY and value + fee > position.quote_balance:
            problem = (
                f"insufficient paper balance: {value + fee} needed, "
                f"{position.quote_balance} available"
            )
        elif order.side == Order.Side.SELL and order.amount > position.base_amount:
            problem = f"cannot sell {order.amount}: the paper position is {position.base_amount}"
        elif _order_mark_filled(order, price=price, fee=fee):
            _position_apply(position, order, value=value, fee=fee)
        else:
            order.refresh_from_db()  # it was filled before: leave everything as it is
    # Raised outside the block, which so has nothing to roll back in the caller's transaction.
    if problem:
        raise OrderNotSent(problem)
    return order


def _order_mark_filled(order: Order, *, price: Decimal, fee: Decimal) -> bool:
    """Move the order from new to filled; False if it was not new (filled once already)."""
    fill = {
        "status": Order.Status.FILLED,
        "price": price,
        "average_price": price,
        "filled_amount": order.amount,
        "fee": fee,
        "exchange_order_id": f"paper-{order.client_order_id}",
        "updated_at": timezone.now(),
    }
    if order.pk is not None and not (
        Order.objects.filter(pk=order.pk, status=Order.Status.NEW).update(**fill)
    ):
        return False
    for name, value in fill.items():
        setattr(order, name, value)
    if order.pk is None:
        order.save()  # not written yet: written filled, in the caller's transaction
    return True


def _position_apply(position: PaperPosition, order: Order, *, value: Decimal, fee: Decimal) -> None:
    if order.side == Order.Side.BUY:
        held = position.base_amount + order.amount
        position.average_entry_price = (
            (position.base_amount * (position.average_entry_price or 0) + value) / held
        ).quantize(AMOUNT_STEP)
        position.base_amount = held
        position.quote_balance -= value + fee
    else:
        position.base_amount -= order.amount
        position.quote_balance += value - fee
        if position.base_amount == 0:
            position.average_entry_price = None
    position.fees_paid += fee
    position.save()


def live_order_send(order: Order) -> Order:
    """Send through the exchange gateway, so that one client order id is at most one order.

    The exchange is asked for the client order id first: a resumed run's order may have left
    before its worker died. A create that times out may have been placed too, so the order is
    looked up again before it is sent once more; if the exchange still will not say, the order
    stays `new` (OrderUnconfirmed) rather than risk a second one.
    """
    account = order.strategy.account
    if account is None:
        raise OrderNotSent("live trading needs an exchange account")
    symbol = order.strategy.market.symbol
    for _attempt in range(LIVE_SEND_ATTEMPTS):
        try:
            placed = _live_lookup(order, account=account, symbol=symbol)
            if placed is None:
                placed = exchanges.create_order(
                    account=account,
                    symbol=symbol,
                    side=order.side,
                    type=order.type,
                    amount=order.amount,
                    price=order.price,
                    client_order_id=order.client_order_id,
                )
        except exchanges.TemporaryExchangeError as error:
            logger.warning("order %s not confirmed: %s", order.client_order_id, error)
            continue
        except exchanges.AuthenticationFailed as error:
            account_mark_needs_attention(account_id=account.pk, reason=str(error))
            raise OrderNotSent(f"the exchange refused the account's keys: {error}") from None
        except exchanges.ExchangeError as error:
            raise OrderNotSent(f"the exchange refused the order: {error}") from None
        return _order_record_placed(order, placed)
    raise OrderUnconfirmed(
        f"the exchange did not confirm order {order.client_order_id} after "
        f"{LIVE_SEND_ATTEMPTS} attempts; it stays new and is not resent blind"
    )


def _live_lookup(
    order: Order, *, account: ExchangeAccount, symbol: str
) -> exchanges.OrderResult | None:
    try:
        return exchanges.fetch_order_by_client_id(
            account=account, symbol=symbol, client_order_id=order.client_order_id
        )
    except exchanges.OrderNotFound:
        return None


LIVE_STATUSES = {
    "open": Order.Status.OPEN,
    "filled": Order.Status.FILLED,
    "canceled": Order.Status.CANCELED,
}


def _order_record_placed(order: Order, placed: exchanges.OrderResult) -> Order:
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


ORDER_SENDERS: dict[str, Callable[[Order], Order]] = {
    Strategy.Mode.PAPER: paper_order_send,
    Strategy.Mode.LIVE: live_order_send,
}


def _run_skip(run: StrategyRun, reason: str) -> None:
    """End the run as skipped; returns None so deciders can `return _run_skip(...)`."""
    _run_finish(run, StrategyRun.Status.SKIPPED, signal=run.signal, reason=reason)


def _run_finish(run: StrategyRun, status: str, **fields: str) -> None:
    run.status = status
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=["status", "finished_at", *fields])
    logger.info("run %s of strategy %s: %s", run.pk, run.strategy_id, status)


def _lease_take(run: StrategyRun, *, wait: float) -> bool:
    """Take the run's advisory lock on this connection, trying for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LEASE_NAMESPACE + run.pk])
            if cursor.fetchone()[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _lease_release(run: StrategyRun) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [LEASE_NAMESPACE + run.pk])
