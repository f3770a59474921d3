"""The jobs bench/beat.py schedules: active strategies with their rows, a burst, an edit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

QUIET = timedelta(hours=6)  # a quiet job's next tick is at least this far away
BURST_EVERY_MIN = 600  # a burst job's interval: long enough that it fires once in a run
BATCH = 5_000
SAVED_AT = datetime.now(UTC) - timedelta(days=1)


def quiet_intervals(now: datetime, first_day: int, last_day: int) -> list[int]:
    """Two daily multiples whose next tick on the epoch grid is at least QUIET away."""
    from project.kernel.scheduling import IntervalTrigger

    found = []
    for days in range(first_day, last_day):
        trigger = IntervalTrigger(days * 86400)
        if trigger.next_tick(now) - now >= QUIET:
            found.append(trigger.seconds)
        if len(found) == 2:
            return found
    raise SystemExit("no quiet interval found")


class Fleet:
    """Active paper strategies, each with the `PeriodicTask` row our Celery backend writes.

    Rows are bulk-created in exactly the shape `CeleryBeatScheduler.add_job` gives them, so a
    full `jobs_sync` finds nothing to change (`sync` checks that). The strategies are saved a
    day ago, as a fleet built over time is: a restart reads only the ones saved since the last
    sync, and the full sync each size begins with stands for the first one ever.
    """

    def __init__(self, quiet: list[int], check: bool = True) -> None:
        from django.contrib.auth import get_user_model

        from marketdata.models import Exchange, Market

        self.quiet = quiet
        self.strategies: list[Any] = []
        self.owner = get_user_model().objects.create(username="bench")
        exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp")
        self.market = Market.objects.create(
            exchange=exchange, symbol="BTC/USD", exchange_symbol="btcusd", base="BTC", quote="USD"
        )
        self._edits = 0
        self._check = check

    @property
    def size(self) -> int:
        return len(self.strategies)

    def grow(self, size: int, rows: bool = True) -> None:
        """Strategies up to `size`, each with its `PeriodicTask` row (unless `rows` is off)."""
        from django_celery_beat.models import PeriodicTasks

        from strategies.models import Strategy

        every = _every(self.quiet[0])
        for start in range(self.size, size, BATCH):
            made = Strategy.objects.bulk_create(
                Strategy(
                    owner=self.owner,
                    name=f"dca {n}",
                    market=self.market,
                    kind="dca",
                    parameters={"quote_amount": "10"},
                    interval_seconds=self.quiet[0],
                    is_active=True,
                )
                for n in range(start, min(size, start + BATCH))
            )
            Strategy.objects.filter(pk__in=[s.pk for s in made]).update(updated_at=SAVED_AT)
            self.strategies.extend(made)
            if rows:
                _rows_of(made, every)
        PeriodicTasks.update_changed()
        _analyze()

    def sync(self) -> float:
        """The full `jobs_sync` (the first one ever, at this size); its seconds. With `check`,
        it must find the bench's rows as they should be."""
        from strategies.reconcile import strategy_jobs_reconcile
        from tasks.scheduling.celery_backend import CeleryBeatScheduler

        began = time.perf_counter()
        sync = strategy_jobs_reconcile(scheduler=CeleryBeatScheduler(), full=True)
        spent = time.perf_counter() - began
        if self._check and (sync.desired != self.size or sync.changed):
            raise SystemExit(f"the bench rows are not what add_job writes: {sync}")
        return spent

    def arm_burst(self, count: int, lead: float) -> tuple[str, int, float]:
        """Put `count` jobs on one tick `lead` seconds or more from now.

        Returns one of the jobs, their new interval and the tick (epoch seconds).
        The interval is chosen so that its epoch-grid tick (ours) falls there; stock counts
        from the last run, so that is set one interval before the tick.
        """
        from django_celery_beat.models import PeriodicTask, PeriodicTasks

        from strategies.models import Strategy

        seconds, tick = _burst_interval(time.time() + lead)
        burst = self.strategies[:count]
        Strategy.objects.filter(pk__in=[s.pk for s in burst]).update(interval_seconds=seconds)
        PeriodicTask.objects.filter(name__in=[s.job_id for s in burst]).update(
            interval=_every(seconds),
            last_run_at=datetime.fromtimestamp(tick - seconds, UTC),
        )
        PeriodicTasks.update_changed()
        return burst[0].job_id, seconds, float(tick)

    def disarm(self, count: int) -> None:
        """Put the burst's jobs back on the quiet interval, as if they had just run."""
        from django.utils import timezone
        from django_celery_beat.models import PeriodicTask, PeriodicTasks

        from strategies.models import Strategy

        burst = self.strategies[:count]
        Strategy.objects.filter(pk__in=[s.pk for s in burst]).update(interval_seconds=self.quiet[0])
        PeriodicTask.objects.filter(name__in=[s.job_id for s in burst]).update(
            interval=_every(self.quiet[0]), last_run_at=timezone.now()
        )
        PeriodicTasks.update_changed()

    def plan(self) -> tuple[int, float]:
        """Plan every job whose schedule changed (what a running beat of ours does within a
        tick or, for many at once, a tick per thousand): each side then starts on planned
        rows. Returns how many were planned and the seconds it took."""
        from tasks.scheduling.dispatch import schedules_plan

        began, planned = time.perf_counter(), 0
        while done := schedules_plan(limit=BATCH):
            planned += done
        return planned, time.perf_counter() - began

    def prepare_edit(self) -> tuple[str, int, Callable[[], float]]:
        """A quiet job, its new interval, and the edit: `strategy_update`, returning its commit."""
        from strategies.services import strategy_update

        strategy = self.strategies[len(self.strategies) // 2]
        self._edits += 1
        seconds = self.quiet[self._edits % 2]

        def edit() -> float:
            strategy_update(strategy=strategy, data={"interval_seconds": seconds})
            return time.time()

        return strategy.job_id, seconds, edit


def _rows_of(strategies: list[Any], every: Any) -> None:
    """The `PeriodicTask` rows `add_job` writes for these strategies, in bulk."""
    from django_celery_beat.models import PeriodicTask

    from strategies.models import Strategy
    from strategies.selectors import job_description
    from strategies.services import EXECUTE_TASK

    descriptions = dict(
        Strategy.objects.filter(pk__in=[s.pk for s in strategies])
        .annotate(text=job_description())
        .values_list("pk", "text")
    )
    PeriodicTask.objects.bulk_create(
        PeriodicTask(
            name=strategy.job_id,
            task=EXECUTE_TASK,
            interval=every,
            args=json.dumps([strategy.pk]),
            kwargs=json.dumps({}),
            enabled=True,
            description=descriptions[strategy.pk],
        )
        for strategy in strategies
    )


def _analyze() -> None:
    """Fresh planner statistics after a bulk load, as autovacuum leaves them in time."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strategies_strategy")
        cursor.execute("ANALYZE django_celery_beat_periodictask")


def _every(seconds: int) -> Any:
    from django_celery_beat.models import IntervalSchedule

    every, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return every


def _burst_interval(earliest: float) -> tuple[int, int]:
    """An interval of at least BURST_EVERY_MIN s whose next epoch-grid tick falls soonest after
    `earliest` (within 60 s): the burst's tick, on a whole second."""
    for tick in range(int(earliest) + 1, int(earliest) + 61):
        for seconds in range(BURST_EVERY_MIN, 1_000_000):
            if tick % seconds == 0:
                return seconds, tick
    raise SystemExit("no burst interval found")  # pragma: no cover - 60 seconds always have one
