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
from datetime import datetime, timedelta
from typing import Any

from celery import beat
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from tasks.heartbeat import beat_heartbeat_write, this_beat
from tasks.scheduling.backlog import Backlog
from tasks.scheduling.broker import BROKER_ERRORS, broker_unavailable
from tasks.scheduling.dispatch import (
    beat_probe,
    due_jobs_claim,
    firings_hand_back,
    schedules_plan,
)
from tasks.scheduling.hooks import startup_hooks_run
from tasks.scheduling.outbox import (
    firings_publish,
    firings_requeue_unstarted,
    firings_settle_late,
)
from tasks.scheduling.stopping import stop_signals_held

logger = logging.getLogger(__name__)

# Sleep at most this long between ticks: a changed job is planned within it.
MAX_SLEEP = 0.5
MIN_SLEEP = 0.01
STAMP_EVERY = 1.0
REQUEUE_EVERY = 1.0
# Claim due jobs this long before their tick, so a burst's claim is done when the tick comes.
CLAIM_AHEAD = timedelta(seconds=1)
# After a database error, wait this long before the next try.
ERROR_PAUSE = 1.0
# Why an orphaned firing was not published, when this beat saw no broker error.
NO_BEAT_PUBLISHED = "no beat published it in time (its beat stopped)"


class TickScheduler(beat.Scheduler):
    """`CELERY_BEAT_SCHEDULER`: our beat. The database holds all state; the process holds none.

    Under a `SCHEDULER_BACKEND` other than celery it fires nothing (and says so every minute),
    so a stale beat left running after a switch cannot fire the old rows.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.firing = settings.SCHEDULER_BACKEND_NAME == "celery"
        self._last_refusal_log = 0.0
        self._stamped = 0.0
        self._requeued = 0.0
        # Firings this beat claimed and has not published yet: (tick, id), soonest first.
        self._own: list[tuple[datetime, int]] = []
        # The reason of the last failed publish, until one succeeds.
        self._broker_down: str | None = None
        self._backlog: Backlog | None = None
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
        """One pass; returns the seconds to sleep until the next job is due (at most MAX_SLEEP).

        A stop signal waits for the end of the pass (`stopping`); in the sleep it acts at once.
        """
        with stop_signals_held():
            return self._tick()

    def _tick(self) -> float:
        try:
            self._stamp()
            if not self.firing:
                self._refuse()
                return self.max_interval
            return self._dispatch()
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
            close_old_connections()  # past CONN_MAX_AGE or broken: a fresh one
            beat_heartbeat_write(firing=self.firing)
            self._stamped = time.monotonic()

    def _dispatch(self) -> float:
        """Do what the probe says there is to do; the seconds until there is more to do."""
        adopt = timedelta(seconds=settings.BEAT_OUTBOX_ADOPT_SECONDS)
        redeliver = timedelta(seconds=settings.BEAT_REDELIVER_AFTER_SECONDS)
        now = timezone.now()
        probe = beat_probe(adopt_before=now - adopt, unstarted_before=now - redeliver)
        claim = probe.soonest is not None and probe.soonest <= now + CLAIM_AHEAD
        if probe.stale:
            schedules_plan()  # one batch: due jobs fire between batches of a mass change
        if claim:
            self._claim()
        requeued = self._requeue(overdue=probe.unstarted)
        if (self._own and self._own[0][0] <= timezone.now()) or probe.orphans or requeued:
            self._publish(settle=probe.orphans or requeued)
        if probe.stale or claim:
            return MIN_SLEEP  # plans and claims changed the soonest: probe again at once
        return self._sleep(probe.soonest, now)

    def _requeue(self, *, overdue: bool) -> bool:
        """Look at the queue's length, and put firings the broker lost back in the outbox, at
        most once a second (the deadline doubles per republish, so most looks find nothing to
        do; one queued behind a draining backlog waits for it, `backlog`); whether any went
        back."""
        if time.monotonic() - self._requeued < REQUEUE_EVERY:
            return False
        self._requeued = time.monotonic()
        if self._backlog is None:
            self._backlog = Backlog(
                broker_url=self.app.conf.broker_url,
                queue=self.app.conf.task_default_queue,
                deadline=timedelta(seconds=settings.BEAT_REDELIVER_AFTER_SECONDS),
            )
        self._backlog.look(now=timezone.now())
        if not overdue:
            return False
        return firings_requeue_unstarted(held=self._backlog.held(now=timezone.now())) > 0

    def _claim(self) -> None:
        """Claim what is due within CLAIM_AHEAD, batch by batch; each is published at its tick."""
        batch = settings.BEAT_CLAIM_BATCH
        while True:
            claimed = due_jobs_claim(beat_id=this_beat().id, limit=batch, ahead=CLAIM_AHEAD)
            self._own = sorted(self._own + claimed.firings)
            if claimed.jobs:
                logger.info(
                    "claimed %d jobs: %d firings, %d refused as duplicates, %d skipped",
                    claimed.jobs,
                    len(claimed.firings),
                    claimed.refused,
                    claimed.skipped,
                )
            if claimed.refused:
                this_beat().refused(claimed.refused)
            if claimed.jobs < batch:
                return

    def _publish(self, *, settle: bool) -> None:
        """Publish this beat's firings whose tick has come, and orphans within their grace;
        then settle the orphans past it, whether or not the broker answered (with its error,
        if it did not)."""
        now = timezone.now()
        due = [pk for tick, pk in self._own if tick <= now]
        sent = self._send(due)
        if settle:
            firings_settle_late(cause=self._broker_down or NO_BEAT_PUBLISHED)
        if sent is None:
            return
        self._broker_down = None
        if sent:
            logger.info("published %d firings", sent)
        self._own = [(tick, pk) for tick, pk in self._own if tick > now]

    def _send(self, due: list[int]) -> int | None:
        """How many firings went to the broker; None when it could not be reached."""
        try:
            return firings_publish(app=self.app, producer=self.producer, own=due)
        except BROKER_ERRORS as error:
            self._broker_failed(error)
            return None

    def _broker_failed(self, error: BaseException) -> None:
        """Remember why, and drop the connection: the next tick connects afresh. Committed
        firings wait in the outbox."""
        if self._broker_down is None:
            logger.warning("%s: firings wait in the outbox", broker_unavailable(error))
        self._broker_down = broker_unavailable(error)
        beat.Scheduler.close(self)  # not self.close(): claims stay ours to publish

    def _ensure_connected(self) -> Any:
        """One connection attempt per tick, not Celery's retry loop (minutes of blocking): the
        beat goes on claiming, stamping its heartbeat and settling late firings meanwhile."""
        return self.connection.ensure_connection(max_retries=0)

    def _sleep(self, soonest: datetime | None, now: datetime) -> float:
        """Until the first own firing's tick, or a moment before the soonest job's tick."""
        moments = [self._own[0][0]] if self._own else []
        if soonest is not None:
            moments.append(soonest - CLAIM_AHEAD)
        limit = min(MAX_SLEEP, self.max_interval)
        if not moments:
            return limit
        # A due job another beat holds is its to fire: look again shortly, do not spin.
        return max(MIN_SLEEP, min(limit, (min(moments) - now).total_seconds()))

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

    def close(self) -> None:
        """On the way out, hand back what was claimed ahead, for another beat to fire on time."""
        own, self._own = [pk for _, pk in self._own], []
        if own:
            try:
                returned = firings_hand_back(firing_ids=own)
                logger.info("handed back %d claimed jobs whose tick had not come", returned)
            except DatabaseError:
                logger.exception("claims not handed back; another beat publishes them late")
        super().close()
