"""Running APScheduler in this process: the paused instance on the job store, the leader
election, and firing jobs while this process leads."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import psycopg
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from django.db import close_old_connections
from sqlalchemy import create_engine

from project.kernel.scheduling import (
    SchedulerError,
)
from tasks.models import FiringStatus
from tasks.scheduling.apscheduler_firings import (
    STILL_RUNNING,
    firing_ended,
    firing_missed,
    firing_record,
)
from tasks.scheduling.apscheduler_jobs import RUN_NOW_PREFIX
from tasks.scheduling.apscheduler_runs import FiringPoolExecutor
from tasks.scheduling.apscheduler_store import KeepingJobStore, sqlalchemy_url
from tasks.scheduling.hooks import startup_hooks_run
from tasks.scheduling.leader import (
    SCHEDULER_LEASE_KEY,
    AdvisoryLease,
    connection_kwargs,
)

logger = logging.getLogger(__name__)

THREADS = 20
# A run this late (a leader hand-over, a long pause) still happens, once; later it is skipped.
MISFIRE_GRACE_SECONDS = 5 * 60
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
# How often the leader re-reads the store for changes other processes made.
POLL_SECONDS = 1.0
LEASE_RETRY_SECONDS = 3.0
# A firing handed over, skipped (past the grace, or still running), and its run's end.
FIRING_EVENTS = EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
FIRING_EVENTS |= EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
SKIPPED = FiringStatus.SKIPPED


class APSchedulerProcess:
    """The APScheduler instance of this process and its part in the election.

    Paused, the instance only reads and writes the shared store; the leader resumes it and
    fires jobs in a thread pool, waking every second to see other processes' changes.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._aps: BackgroundScheduler | None = None
        self._store: KeepingJobStore | None = None
        self._lease: AdvisoryLease | None = None
        self.start_error = ""

    def start(self) -> None:
        """Join the leader election; returns at once and never raises (health tells why)."""
        with self._lock:
            if self._lease is not None:
                return
            self._lease = AdvisoryLease(
                key=SCHEDULER_LEASE_KEY,
                connect=lambda: psycopg.connect(autocommit=True, **connection_kwargs()),
                on_elected=self._lead,
                on_lost=self._follow,
                on_beat=self._poll,
                retry_seconds=LEASE_RETRY_SECONDS,
                check_seconds=POLL_SECONDS,
            )
            self._lease.start()

    def shutdown(self) -> None:
        """Give the lease up, wait for running jobs, close the job store."""
        with self._lock:
            lease, self._lease = self._lease, None
        if lease is not None:
            lease.stop()
        with self._lock:
            aps, store, self._aps, self._store = self._aps, self._store, None, None
        if aps is not None and aps.state != STATE_STOPPED:
            aps.shutdown(wait=True)
        if store is not None:
            # APScheduler's thread looks at the store once more after closing it.
            store.engine.dispose()

    # --- Leadership ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._lease is not None and self._lease.is_leader

    def _lead(self) -> None:
        aps = self._scheduler()
        try:
            startup_hooks_run(scheduler=self)  # type: ignore[arg-type]
        finally:
            close_old_connections()
        aps.resume()
        logger.info("APScheduler leads: firing jobs in this process (pid lease taken)")

    def _follow(self) -> None:
        with self._lock:
            aps = self._aps
        if aps is not None and aps.state == STATE_RUNNING:
            aps.pause()

    def _poll(self) -> None:
        with self._lock:
            aps = self._aps
        if aps is not None and aps.state == STATE_RUNNING:
            aps.wakeup()

    # --- Plumbing --------------------------------------------------------------------------

    def _scheduler(self) -> BackgroundScheduler:
        """The APScheduler instance, started paused on first use: paused, it only reads and
        writes the store; the leader resumes it."""
        with self._lock:
            if self._aps is not None:
                return self._aps
            store = KeepingJobStore(
                engine=create_engine(
                    sqlalchemy_url(), pool_pre_ping=True, pool_size=5, pool_recycle=1800
                )
            )
            aps = BackgroundScheduler(
                jobstores={"default": store},
                executors={"default": FiringPoolExecutor(THREADS)},
                job_defaults=JOB_DEFAULTS,
                timezone=UTC,
            )
            aps.add_listener(self._on_fired, FIRING_EVENTS)
            try:
                aps.start(paused=True)
            except Exception as error:
                self.start_error = f"{type(error).__name__}: {error}"
                store.engine.dispose()
                raise SchedulerError(
                    f"the APScheduler job store is unreachable: {error}"
                ) from error
            self.start_error = ""
            self._aps, self._store = aps, store
            return aps

    def _store_or_fail(self) -> KeepingJobStore:
        self._scheduler()
        assert self._store is not None
        return self._store

    def _on_fired(self, event: JobEvent) -> None:
        """Each firing (or miss) of a job as a `Firing` row, and the job's last run."""
        store = self._store
        if event.job_id.startswith(RUN_NOW_PREFIX) or store is None:
            return
        try:
            if event.code == EVENT_JOB_MISSED:
                firing_missed(event.job_id, event.scheduled_run_time)
                return
            if event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
                firing_ended(event.job_id, event.scheduled_run_time)
                return
            job = store.lookup_job(event.job_id)
            due = store.first_due(event.job_id)
            if job is None:
                return
            tick = max(event.scheduled_run_times)
            if event.code == EVENT_JOB_SUBMITTED:
                store.record_run(event.job_id, datetime.now(UTC))
                firing_record(job, tick, due=due)
            else:
                firing_record(job, tick, due=due, status=SKIPPED, reason=STILL_RUNNING)
        except Exception:
            logger.exception("recording the firing of %s failed", event.job_id)
