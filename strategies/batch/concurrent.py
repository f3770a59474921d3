"""The runs of a batch that take the single run's way, with their live orders in flight together.

Every live run, and any run the set-based claim did not make (a redelivery's own run to resume,
a run in progress from an earlier tick), is claimed, resumed and decided as a single run is
(`strategies.execution`), one after another on the batch's database session, which so holds
their leases. Their live orders, each committed before it leaves, are then sent together
(`strategies.live_orders`: one event loop for the unit, at most EXCHANGE_CONCURRENCY in
flight per exchange, each request within the exchange's shared rate limit, each looked up by
its client order id before it is created), and each run ends as its exchange answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from strategies.execution import order_complete, run_failures_recorded, run_order_pending
from strategies.live_orders import Sent, live_orders_send
from strategies.models import Order, Strategy, StrategyRun
from strategies.runs import RUNNING, run_claim

logger = logging.getLogger(__name__)


@dataclass
class Singles:
    """The single runs of a batch: what each strategy recorded (None: nothing), the runs whose
    lease the batch's session holds, and a fault of ours in any (raised once all are done)."""

    ran: dict[int, StrategyRun | None] = field(default_factory=dict)
    leased: list[StrategyRun] = field(default_factory=list)
    faults: list[BaseException] = field(default_factory=list)
    _sending: list[tuple[StrategyRun, Order]] = field(default_factory=list)

    def execute(
        self, *, strategy_ids: Sequence[int], tick: datetime, task_id: str, trigger: str
    ) -> None:
        """Claim and decide each strategy's run in turn, then send their live orders together.
        A fault in one run is kept, not raised: the others are never cut short."""
        for strategy_id in strategy_ids:
            self._kept(self._prepare, strategy_id, tick, task_id, trigger)
        if not self._sending:
            return
        sent = live_orders_send([order for _, order in self._sending])
        for (run, order), outcome in zip(self._sending, sent, strict=True):
            self._kept(self._complete, run, order, outcome)

    def raise_fault(self) -> None:
        if self.faults:
            raise self.faults[0]

    def _kept(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception as error:
            logger.error("a single run of the batch failed: %r", error)
            self.faults.append(error)

    def _prepare(self, strategy_id: int, tick: datetime, task_id: str, trigger: str) -> None:
        try:
            claimed = run_claim(
                strategy_id=strategy_id,
                scheduled_tick=tick,
                task_id=task_id,
                trigger=trigger,
                now=timezone.now(),
            )
        except Strategy.DoesNotExist:
            logger.warning("strategy %s does not exist; nothing to run", strategy_id)
            claimed = None
        self.ran[strategy_id] = claimed[0] if claimed else None
        if claimed is None or claimed[0].status != RUNNING:
            return
        run, resumed = claimed
        self.leased.append(run)
        with run_failures_recorded(run):
            order = run_order_pending(run=run, resumed=resumed)
            if order is None:
                return
            if order.mode == Strategy.Mode.LIVE and order.status == Order.Status.NEW:
                self._sending.append((run, order))
            else:
                order_complete(run=run, order=order)

    @staticmethod
    def _complete(run: StrategyRun, order: Order, outcome: Sent) -> None:
        with run_failures_recorded(run):
            order_complete(run=run, order=order, sent=outcome)
