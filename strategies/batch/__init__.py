"""A tick's strategies of one series run together: one claim, one read, decisions in memory,
set-based writes; every strategy keeps its own run, orders, position and guardrails.

`series_execute` is what the `execute_strategy_series` task calls with the strategies the
beat grouped (`tasks.scheduling.grouping`). Paper runs take the batched way. Live runs, and
any run the set-based claim did not make (a redelivery's own run to resume, a run in progress
from an earlier tick), take the single run's way (`strategies.execution`), first, with their
live orders sent together (`batch.concurrent`): each committed before it is sent, sent once
per client order id, at most EXCHANGE_CONCURRENCY in flight per exchange, within the shared
rate limit of the exchange gateway, and recorded as its exchange answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from strategies.batch.claim import leases_release_flushing, runs_claim
from strategies.batch.concurrent import Singles
from strategies.batch.decide import Outcome, Prepared, run_decide, run_prepare
from strategies.batch.inputs import run_inputs_of, series_read, strategies_books
from strategies.batch.write import paper_fills_write, runs_end
from strategies.execution import order_complete
from strategies.models import StrategyRun
from strategies.runs import RUNNING

logger = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What a unit of work did: runs ended the batched way, runs taken the single way, and
    strategies that recorded nothing (inactive, or their tick's run belongs to another)."""

    batched: list[int] = field(default_factory=list)
    single: list[int] = field(default_factory=list)
    idle: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # sent on as messages of their own


def series_execute(
    *, strategy_ids: Sequence[int], scheduled_tick: datetime, task_id: str, trigger: str
) -> BatchReport:
    """Run the tick of every strategy given, each at most once (idempotent per strategy)."""
    now = timezone.now()
    claim = runs_claim(
        strategy_ids=strategy_ids, tick=scheduled_tick, task_id=task_id, trigger=trigger, now=now
    )
    report = BatchReport(idle=list(claim.inactive))
    if claim.inactive:
        logger.warning("strategies %s are not active; tick not run", claim.inactive)
    singles = Singles()
    try:
        # First: live orders leave at the tick, not after the paper runs' writes.
        singles.execute(
            strategy_ids=[strategy.pk for strategy in claim.contended],
            tick=scheduled_tick,
            task_id=task_id,
            trigger=trigger,
        )
        runs_carry_out(claim.claimed, now=now)
    finally:
        # Every lease back, and one wait for the disk for every relaxed commit before it.
        leases_release_flushing([*claim.claimed, *singles.leased])
    singles.raise_fault()
    report.batched = [run.strategy_id for run in claim.claimed]
    report.single = [pk for pk, run in singles.ran.items() if run is not None]
    report.idle += [pk for pk, run in singles.ran.items() if run is None]
    return report


def runs_carry_out(runs: Sequence[StrategyRun], *, now: datetime) -> None:
    """Decide every claimed run in memory and write how each ended."""
    outcomes: list[Outcome] = []
    prepared: list[Prepared] = []
    for run in runs:
        ready = run_prepare(run)
        (prepared if isinstance(ready, Prepared) else outcomes).append(ready)
    books = strategies_books(strategy_ids=[p.run.strategy_id for p in prepared], now=now)
    for key, members in _per_series(prepared).items():
        limit = max(member.needed for member in members)
        tick = members[0].run.scheduled_tick
        series = series_read(market_id=key[0], timeframe=key[1], limit=limit, tick=tick)
        for member in members:
            orders_today, position = books[member.run.strategy_id]
            inputs = run_inputs_of(
                series, needed=member.needed, orders_today=orders_today, position=position
            )
            outcomes.append(run_decide(member, inputs, now=timezone.now()))
    runs_end([o for o in outcomes if o.plan is None], now=timezone.now())
    fills = paper_fills_write([o for o in outcomes if o.plan is not None], now=timezone.now())
    for run, order in fills.fallback:
        # The position moved since it was read, or cannot take the order: filled the single
        # run's way, with the position locked (or the order rejected with the reason).
        run.status = RUNNING
        with transaction.atomic():
            order_complete(run=run, order=order)


def _per_series(prepared: Sequence[Prepared]) -> dict[tuple[int, str], list[Prepared]]:
    """The runs by (market, timeframe): a strategy edited since the beat grouped it reads its
    own series."""
    series: dict[tuple[int, str], list[Prepared]] = {}
    for member in prepared:
        strategy = member.run.strategy
        series.setdefault((strategy.market_id, strategy.timeframe), []).append(member)
    return series
