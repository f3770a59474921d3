"""Celery beat's scheduler class: django-celery-beat's, with interval jobs fired on their grid."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import schedules
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from project.scheduling import IntervalTrigger
from tasks.heartbeat import HeartbeatSchedulerMixin
from tasks.scheduling.celery_backend import CeleryBeatScheduler, interval_trigger_of
from tasks.scheduling.common import first_tick_after, latest_tick

logger = logging.getLogger(__name__)


class GridSchedule(schedules.BaseSchedule):
    """Due at every tick `anchor + k * seconds` not yet run, whenever the last run happened.

    Celery's `schedule(run_every)` counts from the last run, so each late run shifts every
    later one; here the wall clock decides, so runs stay on the grid the execution task keys
    its runs by. Missed ticks (beat was down) coalesce into one run.
    """

    def __init__(self, trigger: IntervalTrigger, app: Any = None) -> None:
        self.trigger = trigger
        super().__init__(app=app)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        now = self.now()
        return first_tick_after(self.trigger, now) - now

    def is_due(self, last_run_at: datetime) -> schedules.schedstate:
        now = self.now()
        tick = latest_tick(self.trigger, now)
        wait = (first_tick_after(self.trigger, now) - now).total_seconds()
        return schedules.schedstate(tick is not None and tick > last_run_at, wait)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GridSchedule) and other.trigger == self.trigger

    def __hash__(self) -> int:
        return hash(self.trigger)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.trigger,))

    def __repr__(self) -> str:
        return f"<grid: every {self.trigger.seconds}s from {self.trigger.anchor.isoformat()}>"


class GridModelEntry(ModelEntry):
    """A row of django-celery-beat, on the grid for intervals; edits apply from the next tick.

    A run counts from the later of the last run and the last change of the row, so changing
    a job's schedule never fires a catch-up run for a tick that passed before the change.
    """

    def __init__(self, model: PeriodicTask, app: Any = None) -> None:
        never_run = model.last_run_at is None
        super().__init__(model, app=app)
        if model.interval_id is None and model.crontab_id is None:
            return
        if never_run:
            model.last_run_at = None
        changed = model.date_changed or datetime.now(UTC)
        self.last_run_at = max(model.last_run_at or changed, changed)
        if model.interval_id is not None:
            trigger = interval_trigger_of(model)
            if trigger is not None:
                self.schedule = GridSchedule(trigger, app=self.app)


class TickScheduler(HeartbeatSchedulerMixin, DatabaseScheduler):
    """`CELERY_BEAT_SCHEDULER`: grid-aligned entries, run times saved after every send, and
    a heartbeat on every tick for /health/detail/.

    Saving `last_run_at` at once (not every 3 minutes) means a beat killed and restarted
    does not fire again a tick it already sent. At start-up it reconciles strategy jobs.
    """

    Entry = GridModelEntry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["sync_every_tasks"] = 1
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        reconcile_strategies()


def reconcile_strategies() -> None:
    """Bring strategy jobs in line with the strategies; a failure is logged, beat runs on."""
    from project.scheduling import get_scheduler
    from strategies.services import strategy_schedules_sync

    scheduler = get_scheduler()
    if not isinstance(scheduler, CeleryBeatScheduler):
        logger.warning(
            "SCHEDULER_BACKEND is %s, not celery: beat leaves strategy jobs alone",
            settings.SCHEDULER_BACKEND_NAME,
        )
        return
    try:
        strategy_schedules_sync(scheduler=scheduler)
    except Exception:
        logger.exception("reconciling strategy jobs at start-up failed; beat runs on")
