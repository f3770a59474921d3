"""Running a sweep: a chunk's missing sets backtested once each, then the sweep moved on.

Exactly once per set without a chord: a result row exists per (sweep, window, set) before any
runs; a chunk runs only rows with no result, under its lock (so a second delivery of a chunk
still running waits for nothing and runs nothing), and records each set in its own commit (so
a worker killed mid-chunk loses only the set in hand, never a recorded one). What follows a
chunk (the out-of-sample sets of walk-forward, the sweep's end) is derived from the rows by
`sweep_advance`, which any chunk's end or `sweeps_resume` may call any number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from project.kernel.locks import (
    LockPurpose,
    lock_held_exists_sql,
    lock_key,
    lock_release,
    lock_try,
)
from strategies.engine import get_strategy_class
from strategies.errors import StrategyError
from strategies.sweeps import messages, planning
from strategies.sweeps.models import Sweep, SweepSet

logger = logging.getLogger(__name__)


def chunk_run(*, sweep_id: int, chunk: int) -> int:
    """Backtest the chunk's sets that have no result yet; returns how many this call ran."""
    rows = list(SweepSet.objects.filter(sweep_id=sweep_id, chunk=chunk).order_by("id"))
    if not rows:
        return 0
    with _chunk_lock(rows[0].pk) as held:
        if not held:
            logger.info("sweep %s chunk %s runs elsewhere", sweep_id, chunk)
            return 0
        ran = _chunk_sets_run(sweep_id, chunk)
    if Sweep.objects.get(pk=sweep_id).search == Sweep.Search.TPE:
        messages.optimise_send(sweep_id=sweep_id)
    else:
        sweep_advance(sweep_id=sweep_id)
    return ran


def _chunk_sets_run(sweep_id: int, chunk: int) -> int:
    missing = SweepSet.objects.filter(sweep_id=sweep_id, chunk=chunk, done_at__isnull=True)
    todo = list(missing.order_by("id"))
    if not todo:
        return 0
    # The backtest engine (numpy) loads where a chunk runs, not in every process that imports
    # the task modules or the admin (the beat, the strategy workers).
    from strategies.sweeps import engine

    sweep = Sweep.objects.select_related("market").get(pk=sweep_id)
    kind = get_strategy_class(sweep.kind)
    sets = [kind.clean_parameters(row.parameters) for row in todo]
    start, end = planning.window_period(sweep, todo[0].window)
    warmup = engine.warmup_of(kind=sweep.kind, sets=sets)
    candles = engine.window_candles(sweep=sweep, start=start, end=end, warmup=warmup)
    for ran, (row, parameters) in enumerate(zip(todo, sets, strict=True)):
        if not Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.RUNNING).exists():
            return ran
        figures = _set_figures(sweep, parameters, candles, start, end)
        set_record(sweep=sweep, row=row, outcome=figures)
    return len(todo)


def _set_figures(
    sweep: Sweep, parameters: dict[str, Any], candles: Any, start: datetime, end: datetime
) -> dict[str, Any] | StrategyError:
    """The set's figures, or the strategy's own failure (recorded on the row, not raised)."""
    from strategies.sweeps import engine

    try:
        return engine.set_figures(
            sweep=sweep, parameters=parameters, candles=candles, start=start, end=end
        )
    except StrategyError as error:
        return error


def set_record(*, sweep: Sweep, row: SweepSet, outcome: dict[str, Any] | StrategyError) -> None:
    """Record one set's backtest; only the first finished backtest of a row is kept."""
    from strategies.sweeps import engine

    fields: dict[str, Any] = {"done_at": timezone.now()}
    if isinstance(outcome, StrategyError):
        fields.update(error=str(outcome)[:2000])
    else:
        value = engine.objective_value(sweep.objective, outcome)
        trades = outcome.get("trades") or 0
        fields.update(figures=outcome, value=value)
        fields["ranked"] = value is not None and trades >= sweep.min_trades
    first = SweepSet.objects.filter(pk=row.pk, done_at__isnull=True).update(
        evaluations=F("evaluations") + 1, **fields
    )
    if not first:
        SweepSet.objects.filter(pk=row.pk).update(evaluations=F("evaluations") + 1)


@contextmanager
def _chunk_lock(first_row_id: int) -> Iterator[bool]:
    """The chunk's advisory lock (keyed by its first row), held on this session while it runs;
    the server frees it if the process dies."""
    key = lock_key(LockPurpose.SWEEP_CHUNK, first_row_id)
    with connection.cursor() as cursor:
        held = lock_try(cursor, key)
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                lock_release(cursor, key)


def chunks_idle(*, sweep_id: int) -> list[int]:
    """Chunks with a set still to backtest that no process is running (the chunk's lock, as
    `_chunk_lock` takes it on the chunk's first row, is free): one query."""
    held = lock_held_exists_sql(LockPurpose.SWEEP_CHUNK, "c.first_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH c AS (
                SELECT chunk, min(id) AS first_id FROM {SweepSet._meta.db_table}
                 WHERE sweep_id = %s GROUP BY chunk HAVING bool_or(done_at IS NULL)
            )
            SELECT chunk FROM c WHERE NOT {held} ORDER BY chunk
            """,  # noqa: S608 - constants only
            [sweep_id],
        )
        return [chunk for (chunk,) in cursor.fetchall()]


@transaction.atomic
def sweep_advance(*, sweep_id: int) -> str:
    """Plan each fold's out-of-sample set once its in-sample sets are done, and end the sweep
    when no set is missing. Idempotent; serialised on the sweep's row."""
    sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
    if sweep.status != Sweep.Status.RUNNING:
        return sweep.status
    planned = _out_of_sample_plan(sweep)
    if planned:
        messages.chunks_send(sweep_id=sweep.pk, chunks=planned)
        return sweep.status
    if not sweep.sets.filter(done_at__isnull=True).exists():
        sweep.status = Sweep.Status.DONE
        sweep.finished_at = timezone.now()
        sweep.save(update_fields=["status", "finished_at"])
        logger.info("sweep %s done", sweep.pk)
    return sweep.status


def _out_of_sample_plan(sweep: Sweep) -> list[int]:
    """Chunks planned now: for each fold whose in-sample sets are all done and that has no
    out-of-sample row yet, its best ranked in-sample set on the out-of-sample window."""
    planned = []
    for fold in planning.sweep_folds(sweep):
        inside = sweep.sets.filter(window=f"is{fold.index}")
        if inside.filter(done_at__isnull=True).exists():
            continue
        if sweep.sets.filter(window=f"oos{fold.index}").exists():
            continue
        best = inside.filter(ranked=True).order_by("-value", "id").first()
        if best is None:
            continue
        kind = get_strategy_class(sweep.kind)
        rows = planning.sets_plan(
            sweep, [kind.clean_parameters(best.parameters)], [f"oos{fold.index}"]
        )
        planned.extend(row.chunk for row in rows)
    return planned
