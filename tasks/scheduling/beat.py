"""Celery beat's scheduler class: fires django-celery-beat's rows from an indexed next-fire table.

`celery -A project beat -S tasks.scheduling.beat:TickScheduler`. Each tick plans jobs whose
schedule changed, claims the due ones into firing rows (`dispatch`), publishes them in
batches over one broker connection (`outbox`) and stamps this beat's heartbeat. It never
loads the whole schedule: start-up and ticks cost what is due, not what exists. Any number
of beats may run at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import beat
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from tasks.heartbeat import beat_heartbeat_write, this_beat
from tasks.models import JobSchedule
from tasks.scheduling.dispatch import due_jobs_claim, schedules_plan
from tasks.scheduling.hooks import startup_hooks_run
from tasks.scheduling.outbox import firings_publish

logger = logging.getLogger(__name__)

# Sleep at most this long between ticks: a changed job is planned within it.
MAX_SLEEP = 0.5
MIN_SLEEP = 0.01
STAMP_EVERY = 1.0
# After a database error, wait this long before the next try.
ERROR_PAUSE = 1.0


class TickScheduler(beat.Scheduler):
    """`CELERY_BEAT_SCHEDULER`: our beat. The database holds all state; the process holds none.

    Under a `SCHEDULER_BACKEND` other than celery it fires nothing (and says so every minute),
    so a stale beat left running after a switch cannot fire the old rows.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.firing = settings.SCHEDULER_BACKEND_NAME == "celery"
        self._last_refusal_log = 0.0
        self._stamped = 0.0
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        """No schedule to load: only the start-up hooks run, and the heartbeat is stamped."""
        beat_heartbeat_write(firing=self.firing)
        if not self.firing:
            self._refuse()
        else:
            startup_hooks_run()
        logger.info("beat %s ready: %s", this_beat().id, self.info)

    @property
    def info(self) -> str:
        if not self.firing:
            return f"firing nothing (SCHEDULER_BACKEND is {settings.SCHEDULER_BACKEND_NAME})"
        return "firing django-celery-beat jobs from tasks_jobschedule"

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass; returns the seconds to sleep until the next job is due (at most MAX_SLEEP)."""
        try:
            self._stamp()
            if not self.firing:
                self._refuse()
                return self.max_interval
            self._dispatch()
            return self._sleep()
        except DatabaseError:
            logger.exception("beat tick failed on the database; retrying in %ss", ERROR_PAUSE)
            connection.close()
            return ERROR_PAUSE
        except Exception:  # the broker, most likely: committed firings wait in the outbox
            logger.exception("beat tick failed; retrying in %ss", ERROR_PAUSE)
            self.close()
            return ERROR_PAUSE

    def _stamp(self) -> None:
        """The heartbeat, at most once a second: a busy beat ticks far more often."""
        if time.monotonic() - self._stamped >= STAMP_EVERY:
            beat_heartbeat_write(firing=self.firing)
            self._stamped = time.monotonic()

    def _dispatch(self) -> None:
        close_old_connections()
        schedules_plan()
        batch = settings.BEAT_CLAIM_BATCH
        while True:
            claimed = due_jobs_claim(beat_id=this_beat().id, limit=batch)
            sent = firings_publish(app=self.app, producer=self.producer, own=claimed.firing_ids)
            if claimed.jobs or sent:
                logger.info(
                    "fired %d jobs: %d published, %d refused as duplicates, %d skipped",
                    claimed.jobs,
                    sent,
                    claimed.refused,
                    claimed.skipped,
                )
            if claimed.refused:
                this_beat().refused(claimed.refused)
            if claimed.jobs < batch:
                return

    def _sleep(self) -> float:
        soonest = (
            JobSchedule.objects.filter(next_fire_at__isnull=False)
            .order_by("next_fire_at")
            .values_list("next_fire_at", flat=True)
            .first()
        )
        limit = min(MAX_SLEEP, self.max_interval)
        if soonest is None:
            return limit
        # A due job another beat holds is its to fire: look again shortly, do not spin.
        return max(MIN_SLEEP, min(limit, (soonest - timezone.now()).total_seconds()))

    def _refuse(self) -> None:
        if time.monotonic() - self._last_refusal_log < 60:
            return
        self._last_refusal_log = time.monotonic()
        logger.warning(
            "SCHEDULER_BACKEND is %s, not celery: this beat fires nothing "
            "(run `manage.py run_scheduler`, or set SCHEDULER_BACKEND=celery)",
            settings.SCHEDULER_BACKEND_NAME,
        )

    def sync(self) -> None:
        """Nothing to save: every firing is committed when it is made."""
