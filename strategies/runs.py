"""Run rows of a strategy, one per tick: claim it with its lease, resume it, finish it.

How "exactly once" holds with at-least-once delivery (acks_late, reject_on_worker_lost, a
database error retried at the task edge, a firing the broker lost published again):
- The run row is unique per (strategy, tick), and a strategy has at most one running run (both
  are constraints). The claim inserts it with ON CONFLICT DO NOTHING, so two deliveries of one
  tick (a duplicate message, two beats) cannot both win: the second finds the row and records
  nothing.
- The process running a run holds a PostgreSQL advisory lock on it (its lease) until it is
  done. The server frees the lock when that process's connection dies. A delivery that finds
  its own run (same Celery task id) still `running` resumes it only if it can take the lease:
  the process that ran it is gone (a redelivery after a killed pool process); otherwise the
  run is alive elsewhere and this delivery records nothing.
- A strategy runs one tick at a time: a tick that finds another run in progress raises
  RunInProgress (`wait`) and its task tries again shortly, so a backlog runs in order, never
  skipped as colliding with itself; only a caller that cannot wait records it skipped.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field, Model, Q
from django.utils import timezone

from marketdata.models import Market
from project.kernel.locks import LockPurpose, lock_key, lock_release, lock_try
from strategies.errors import RunInProgress
from strategies.models import Strategy, StrategyRun
from strategies.recovery import LEASE_SQL, live_orders_reconcile, run_settle_if_abandoned

logger = logging.getLogger(__name__)

# How long a redelivered message waits for the lease of the run its dead process held: the
# server notices the closed connection within milliseconds, this is the generous bound.
RESUME_WAIT_SECONDS = 5.0
RUNNING = StrategyRun.Status.RUNNING
# Claim attempts: retried when the run in the way finishes, or turns out abandoned, meanwhile.
CLAIM_ATTEMPTS = 3
M = TypeVar("M", bound=Model)


def run_claim(
    *,
    strategy_id: int,
    scheduled_tick: datetime | None,
    task_id: str,
    trigger: str,
    now: datetime,
    wait: bool = False,
) -> tuple[StrategyRun, bool] | None:
    """The run this delivery owns (a running one with its lease taken, or a skipped one) and
    whether it is resumed; None if the tick's run belongs to someone else.

    Raises Strategy.DoesNotExist for an unknown id, and with `wait` RunInProgress when another
    run of the strategy is in progress (without it, the tick is recorded skipped for that).
    """
    if scheduled_tick is None:
        scheduled_tick = _tick_of_task(strategy_id=strategy_id, task_id=task_id, now=now)
    strategy, run = _run_insert_claimed(
        strategy_id=strategy_id, tick=scheduled_tick, task_id=task_id, trigger=trigger, now=now
    )
    if not strategy.is_active:
        # Whatever fired it (a stale row of another backend, a late message), a stopped or
        # paused strategy records nothing and never trades.
        logger.warning("strategy %s is not active; tick not run", strategy_id)
        return None
    claimed = (run, False) if run is not None else None
    if claimed is None:
        claimed = _run_claim_contended(
            strategy=strategy,
            tick=scheduled_tick,
            task_id=task_id,
            trigger=trigger,
            now=now,
            wait=wait,
        )
    if claimed is not None and strategy.mode == Strategy.Mode.LIVE:
        # Its position counts only confirmed fills: an order a lost worker left `new` is
        # asked about before this run decides anything.
        live_orders_reconcile(now=now, strategy_id=strategy.pk)
    return claimed


def _tick_of_task(*, strategy_id: int, task_id: str, now: datetime) -> datetime:
    """The tick a message without one is for: its run's, if this task id has one (a
    redelivery hours later is still that run's), else the trigger's tick now."""
    if task_id:
        tick = (
            StrategyRun.objects.filter(strategy_id=strategy_id, celery_task_id=task_id)
            .values_list("scheduled_tick", flat=True)
            .first()
        )
        if tick is not None:
            return tick
    return Strategy.objects.get(pk=strategy_id).trigger.tick_at(now)


def _run_claim_contended(
    *, strategy: Strategy, tick: datetime, task_id: str, trigger: str, now: datetime, wait: bool
) -> tuple[StrategyRun, bool] | None:
    """The claim when a run was in the way: this tick's own (resume it?) or one in progress."""
    # Recorded with the strategy's parameters, as the claim does; a run that decides stores
    # the cleaned snapshot when it ends.
    insert = functools.partial(
        _run_insert,
        strategy=strategy,
        tick=tick,
        task_id=task_id,
        trigger=trigger,
        parameters=strategy.parameters,
        now=now,
    )
    for _attempt in range(CLAIM_ATTEMPTS):
        runs = list(
            StrategyRun.objects.filter(
                Q(scheduled_tick=tick) | Q(status=RUNNING), strategy=strategy
            ).order_by("scheduled_tick")
        )
        existing = next((run for run in runs if run.scheduled_tick == tick), None)
        if existing is not None:
            return _run_resumable(existing, strategy=strategy, task_id=task_id)
        in_progress = _run_in_progress(runs, now=now)
        if in_progress is not None:
            started = in_progress.scheduled_tick.isoformat()
            if wait:
                raise RunInProgress(f"the run for tick {started} is still in progress")
            skipped = insert(skipped_because=f"the run for tick {started} is still in progress")
            return (skipped, False) if skipped is not None else None
        run = insert()
        if run is not None:
            return run, False
    return None


def _run_resumable(
    run: StrategyRun, *, strategy: Strategy, task_id: str
) -> tuple[StrategyRun, bool] | None:
    """The tick's existing run, to resume, if it is this delivery's and its process is gone."""
    if (
        run.status == RUNNING
        and task_id
        and run.celery_task_id == task_id
        and lease_take(run, wait=RESUME_WAIT_SECONDS)
    ):
        logger.warning("resuming run %s after its worker was lost", run.pk)
        run.strategy = strategy
        return run, True
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
    "trigger",
)


def _run_values(**values: Any) -> list[Any]:
    """A new run's values in RUN_COLUMNS order, given by column name: the column list is the
    one place that orders them (the statements below and the rows read back)."""
    return [values[column] for column in RUN_COLUMNS]


def _new_run(
    *, strategy_id: int, tick: datetime, now: datetime, task_id: str, trigger: str, **fields: Any
) -> dict[str, Any]:
    """A run as the claim inserts it (running; `fields` override: a skipped one's)."""
    return {
        "strategy_id": strategy_id,
        "scheduled_tick": tick,
        "started_at": now,
        "finished_at": None,
        "status": RUNNING,
        "signal": "",
        "parameters": None,
        "reason": "",
        "error_class": "",
        "error_message": "",
        "celery_task_id": task_id,
        "trigger": trigger,
        **fields,
    }


STRATEGY_FIELDS = Strategy._meta.concrete_fields
MARKET_FIELDS = Market._meta.concrete_fields


def _claim_sql() -> str:
    """One statement: read the strategy and its market, and insert the tick's run, running and
    leased, if the strategy is active and no unique constraint is in the way."""
    picked = [f'st."{f.column}" AS s{n}' for n, f in enumerate(STRATEGY_FIELDS)]
    picked += [f'mk."{f.column}" AS m{n}' for n, f in enumerate(MARKET_FIELDS)]
    parameters = next(n for n, f in enumerate(STRATEGY_FIELDS) if f.name == "parameters")
    active = next(n for n, f in enumerate(STRATEGY_FIELDS) if f.name == "is_active")
    # The parameters snapshot is the strategy's until the run ends.
    empty = dict.fromkeys(("signal", "reason", "error_class", "error_message"), "''")
    values = _run_values(
        strategy_id="s.s0",
        scheduled_tick="%s",
        started_at="%s",
        finished_at="NULL",
        status=f"'{RUNNING.value}'",
        parameters=f"s.s{parameters}",
        celery_task_id="%s",
        trigger="%s",
        **empty,
    )
    return (
        f"WITH s AS (SELECT {', '.join(picked)} FROM {Strategy._meta.db_table} st "  # noqa: S608
        f"JOIN {Market._meta.db_table} mk ON mk.id = st.market_id WHERE st.id = %s), "
        f"run AS (INSERT INTO {StrategyRun._meta.db_table} ({', '.join(RUN_COLUMNS)}) "
        f"SELECT {', '.join(values)} FROM s WHERE s.s{active} "
        f"ON CONFLICT DO NOTHING RETURNING id, pg_try_advisory_lock({LEASE_SQL}) AS leased, "
        "set_config('synchronous_commit', 'off', true) AS relaxed) "
        # The lease of this session's previous run, ended since (NULL keys: none to give back).
        "SELECT s.*, run.id, run.leased, run.relaxed, pg_advisory_unlock(%s, %s) "
        "FROM s LEFT JOIN run ON true"
    )


def _run_insert_claimed(
    *, strategy_id: int, tick: datetime, task_id: str, trigger: str, now: datetime
) -> tuple[Strategy, StrategyRun | None]:
    """The strategy (with its market) and its new running run for the tick, or None for the
    run when the strategy is inactive or a run is in the way; one round trip."""
    ended = _ended_lease_pending()
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, [strategy_id, tick, now, task_id, trigger, *ended])
        row = cursor.fetchone()
    if row is None:
        raise Strategy.DoesNotExist(f"Strategy matching query does not exist: {strategy_id}")
    _ended_lease.held = (None, (None, None))
    split = len(STRATEGY_FIELDS)
    strategy = model_from_row(Strategy, STRATEGY_FIELDS, row[:split])
    strategy.market = model_from_row(Market, MARKET_FIELDS, row[split : split + len(MARKET_FIELDS)])
    run_id, leased, _relaxed, _released = row[-4:]
    if run_id is None:
        return strategy, None
    if not leased:
        raise RuntimeError(f"the lease of new run {run_id} is held by another session")
    new = _new_run(strategy_id=strategy.pk, tick=tick, now=now, task_id=task_id, trigger=trigger)
    values = _run_values(**{**new, "parameters": strategy.parameters})
    run = StrategyRun.from_db(connection.alias, ["id", *RUN_COLUMNS], [run_id, *values])
    run.strategy = strategy
    return strategy, run


def model_from_row(model: type[M], fields: Sequence[Field], values: Sequence[Any]) -> M:
    """An instance from raw column values, converted as the ORM would (JSON text to objects)."""
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def _run_insert(
    *,
    strategy: Strategy,
    tick: datetime,
    task_id: str,
    trigger: str,
    parameters: Any,
    now: datetime,
    skipped_because: str = "",
) -> StrategyRun | None:
    """Insert the tick's run, running with its lease taken (or skipped, with the reason), in one
    statement; None if a unique constraint is in the way: the tick has its run already, or
    (for a running one) the strategy has a run in progress."""
    new = _new_run(strategy_id=strategy.pk, tick=tick, now=now, task_id=task_id, trigger=trigger)
    if skipped_because:
        new.update(status=StrategyRun.Status.SKIPPED, finished_at=now, reason=skipped_because)
    values = _run_values(**{**new, "parameters": json.dumps(parameters)})
    sql = INSERT_RUNNING_SQL if new["status"] == RUNNING else INSERT_SKIPPED_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
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


def _insert_sql(*, running: bool) -> str:
    placeholders = ", ".join("%s::jsonb" if c == "parameters" else "%s" for c in RUN_COLUMNS)
    # The lease is taken in the same statement, so no running row is ever without its holder.
    lease = f"pg_try_advisory_lock({LEASE_SQL})" if running else "true"
    # The claim commits without waiting for the disk (set_config(..., true) holds for this
    # statement's transaction only): other deliveries see it at once, and the next synchronous
    # commit of this session (a live order; the task's result after the run's end) flushes it.
    # Only a crash of the database server itself in between could lose it, and with it at most
    # this tick, whose message is then delivered again.
    return (
        f"INSERT INTO {StrategyRun._meta.db_table} ({', '.join(RUN_COLUMNS)}) "  # noqa: S608
        f"VALUES ({placeholders}) ON CONFLICT DO NOTHING "
        f"RETURNING id, {lease}, set_config('synchronous_commit', 'off', true)"
    )


CLAIM_SQL = _claim_sql()
INSERT_RUNNING_SQL = _insert_sql(running=True)
INSERT_SKIPPED_SQL = _insert_sql(running=False)


def _run_in_progress(runs: list[StrategyRun], *, now: datetime) -> StrategyRun | None:
    """The strategy's run still in progress, if any. One no process holds (its lease is free:
    its worker is gone) is settled now rather than block the strategy (`strategies.recovery`)."""
    for run in runs:
        if run.status != RUNNING:
            continue
        if run_settle_if_abandoned(run, now=now):
            continue
        return run
    return None


def run_skip(run: StrategyRun, reason: str) -> None:
    """End the run as skipped; returns None so deciders can `return run_skip(...)`."""
    run_finish(run, StrategyRun.Status.SKIPPED, signal=run.signal, reason=reason)


def run_finish(run: StrategyRun, status: str, **fields: str) -> None:
    """Record how the run ended (its status, and the signal, reason or error given)."""
    run.save(update_fields=run_end(run, status, **fields))
    logger.info("run %s of strategy %s: %s", run.pk, run.strategy_id, status)


def run_end(run: StrategyRun, status: str, **fields: str) -> list[str]:
    """Set how the run ended on `run`, and name the fields that say it: `run_finish` writes
    them, a paper fill in the statement that writes its order (`strategies.orders`)."""
    run.status = status
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    # The parameters snapshot too: the run started with the strategy's, decided with cleaned.
    return ["status", "finished_at", "parameters", *fields]


def lease_take(run: StrategyRun, *, wait: float) -> bool:
    """Take the run's lease on this connection, trying for up to `wait` seconds."""
    with connection.cursor() as cursor:
        return lock_try(cursor, lock_key(LockPurpose.RUN_LEASE, run.pk), wait=wait)


def lease_release(run: StrategyRun) -> None:
    """Give the run's lease back: another process may resume it if it is still running.

    The lease of an ended run guards nothing (only running runs are resumed or abandoned), so
    it is given back by this session's next claim, in the claim's statement: a round trip
    saved per run. A session that ends frees its leases anyway.
    """
    key = lock_key(LockPurpose.RUN_LEASE, run.pk)
    if run.status != RUNNING:
        _ended_lease.held = (connection.connection, key)
        return
    with connection.cursor() as cursor:
        lock_release(cursor, key)


# Per thread (Django's connections are): the ended run whose lease this thread's database
# session still holds, as (the session, the lock key).
_ended_lease = threading.local()


def _ended_lease_pending() -> tuple[int | None, int | None]:
    """The key to give back with the next claim; none if the session it was taken on is gone."""
    session, key = getattr(_ended_lease, "held", (None, (None, None)))
    if session is not None and session is connection.connection:
        return key
    _ended_lease.held = (None, (None, None))
    return None, None
