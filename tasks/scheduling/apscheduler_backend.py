"""The APScheduler backend: jobs in a PostgreSQL job store, fired in-process by one leader."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from celery import current_app
from django.db import close_old_connections, connection, transaction
from sqlalchemy import Column, Float, and_, create_engine, null, select
from sqlalchemy.engine import URL

from project.scheduling import (
    EARLY_TOLERANCE,
    CrontabTrigger,
    IntervalTrigger,
    JobNotFound,
    JobRecord,
    Scheduler,
    SchedulerError,
    Trigger,
)
from tasks.scheduling.common import first_tick_after, first_tick_from, json_arguments, latest_tick
from tasks.scheduling.hooks import startup_hooks_run
from tasks.scheduling.leader import (
    SCHEDULER_LEASE_KEY,
    AdvisoryLease,
    connection_kwargs,
    lease_holder_pid,
)

logger = logging.getLogger(__name__)

THREADS = 20
# A run this late (a leader hand-over, a long pause) still happens, once; later it is skipped.
MISFIRE_GRACE_SECONDS = 5 * 60
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
# One-off jobs that run_job_now hands to the leader; they are not listed as jobs.
RUN_NOW_PREFIX = "__run_now__:"
# How often the leader re-reads the store for changes other processes made.
POLL_SECONDS = 1.0
LEASE_RETRY_SECONDS = 3.0


def run_task(
    task: str, args: list[Any], kwargs: dict[str, Any], task_id: str | None = None
) -> None:
    """What every job runs: the Celery task `task`, in this process, with its result stored.

    Jobs reference this function and the task's name, so they load even when the task's
    module does not (yet) exist; such a run is logged and skipped and the job is kept.
    """
    _import_task_modules()
    registered = current_app.tasks.get(task)
    if registered is None:
        logger.error("job task %r is not registered in this process: run skipped", task)
        return
    close_old_connections()
    try:
        result = registered.apply(args=args, kwargs=kwargs, task_id=task_id or str(uuid.uuid4()))
        if result.failed():
            logger.error("task %s (%s) failed: %r", task, result.id, result.result)
    finally:
        close_old_connections()


@functools.cache
def _import_task_modules() -> None:
    current_app.loader.import_default_modules()


class TickTrigger(BaseTrigger):
    """An APScheduler trigger on a project trigger's ticks: the same tick math as the tasks.

    Pickled as plain values, so a stored job does not depend on APScheduler's trigger classes.
    """

    def __init__(self, trigger: Trigger) -> None:
        self.trigger = trigger

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return first_tick_from(self.trigger, now)
        following = first_tick_after(self.trigger, previous_fire_time)
        if following > now:
            return following
        # Several ticks were missed: jump to the latest (runs coalesce into one anyway).
        return max(following, _latest_tick(self.trigger, now))

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "trigger": encode_trigger(self.trigger)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.trigger = decode_trigger(state["trigger"])

    def __str__(self) -> str:
        return self.trigger.describe()

    def __repr__(self) -> str:
        return f"<TickTrigger {self.trigger.describe()}>"


def _latest_tick(trigger: Trigger, now: datetime) -> datetime:
    if isinstance(trigger, IntervalTrigger):
        return latest_tick(trigger, now) or trigger.anchor
    return trigger.tick_at(now - EARLY_TOLERANCE)


def encode_trigger(trigger: Trigger) -> dict[str, Any]:
    if isinstance(trigger, IntervalTrigger):
        return {"interval": trigger.seconds, "anchor": trigger.anchor.isoformat()}
    return {"crontab": trigger.expression, "timezone": trigger.timezone}


def decode_trigger(data: Mapping[str, Any]) -> Trigger:
    if "interval" in data:
        return IntervalTrigger(data["interval"], datetime.fromisoformat(data["anchor"]))
    return CrontabTrigger.parse(data["crontab"], data["timezone"])


class KeepingJobStore(SQLAlchemyJobStore):
    """SQLAlchemyJobStore that keeps (and reports) jobs it cannot load, and their last run.

    The stock store deletes a job it fails to unpickle; here it stays in the table, is
    skipped when looking for due jobs, and is listed in `broken` for the health check.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.jobs_t.append_column(Column("last_run_time", Float(25), nullable=True))
        self.broken: dict[str, str] = {}
        self._broken_lock = threading.Lock()

    def lookup_job(self, job_id: str) -> Job | None:
        selectable = select(self.jobs_t.c.job_state).where(self.jobs_t.c.id == job_id)
        with self.engine.begin() as conn:
            state = conn.execute(selectable).scalar()
        return self._load(job_id, state) if state else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        due = self.jobs_t.c.next_run_time <= datetime_to_utc_timestamp(now)
        return self._get_jobs(due, *self._not_broken())

    def get_next_run_time(self) -> datetime | None:
        selectable = (
            select(self.jobs_t.c.next_run_time)
            .where(self.jobs_t.c.next_run_time != null(), *self._not_broken())
            .order_by(self.jobs_t.c.next_run_time)
            .limit(1)
        )
        with self.engine.begin() as conn:
            return utc_timestamp_to_datetime(conn.execute(selectable).scalar())

    def add_job(self, job: Job) -> None:
        super().add_job(job)
        self._forget_broken(job.id)

    def remove_job(self, job_id: str) -> None:
        super().remove_job(job_id)
        self._forget_broken(job_id)

    def record_run(self, job_id: str, moment: datetime) -> None:
        update = (
            self.jobs_t.update()
            .values(last_run_time=datetime_to_utc_timestamp(moment))
            .where(self.jobs_t.c.id == job_id)
        )
        with self.engine.begin() as conn:
            conn.execute(update)

    def last_run_times(self, job_id: str | None = None) -> dict[str, datetime]:
        selectable = select(self.jobs_t.c.id, self.jobs_t.c.last_run_time).where(
            self.jobs_t.c.last_run_time != null()
        )
        if job_id is not None:
            selectable = selectable.where(self.jobs_t.c.id == job_id)
        with self.engine.begin() as conn:
            return {
                row.id: utc_timestamp_to_datetime(row.last_run_time)
                for row in conn.execute(selectable)
            }

    def _get_jobs(self, *conditions: Any) -> list[Job]:
        selectable = select(self.jobs_t.c.id, self.jobs_t.c.job_state).order_by(
            self.jobs_t.c.next_run_time
        )
        if conditions:
            selectable = selectable.where(and_(*conditions))
        with self.engine.begin() as conn:
            rows = list(conn.execute(selectable))
        loaded = (self._load(row.id, row.job_state) for row in rows)
        return [job for job in loaded if job is not None]

    def _load(self, job_id: str, state: bytes) -> Job | None:
        try:
            job = self._reconstitute_job(state)
        except Exception as error:
            with self._broken_lock:
                first_time = job_id not in self.broken
                self.broken[job_id] = f"{type(error).__name__}: {error}"
            if first_time:
                logger.error("job %s cannot be loaded (kept in the store): %s", job_id, error)
            return None
        self._forget_broken(job_id)
        return job

    def _forget_broken(self, job_id: str) -> None:
        with self._broken_lock:
            self.broken.pop(job_id, None)

    def _not_broken(self) -> list[Any]:
        with self._broken_lock:
            broken = list(self.broken)
        return [self.jobs_t.c.id.notin_(broken)] if broken else []


def sqlalchemy_url() -> URL:
    """The Django database as an SQLAlchemy URL (psycopg 3); a socket folder goes in ?host=."""
    params = connection_kwargs()
    host, query = params.get("host"), {}
    if host and host.startswith("/"):
        host, query = None, {"host": params["host"]}
    return URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=host,
        port=int(params["port"]) if params.get("port") else None,
        database=params["dbname"],
        query=query,
    )


class APSchedulerScheduler(Scheduler):
    """APScheduler 3 `BackgroundScheduler`, its jobs in PostgreSQL, run by one leader process.

    Every process may change jobs: it writes the shared job store. `start()` joins the
    election (an advisory-lock lease): the winner reconciles strategy jobs and fires jobs in
    a 20-thread pool, re-reading the store every second to see other processes' changes; the
    others stand by. Job store writes are not part of the caller's transaction, so inside
    one they are made when it commits (and dropped if it rolls back).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._aps: BackgroundScheduler | None = None
        self._store: KeepingJobStore | None = None
        self._lease: AdvisoryLease | None = None
        self.start_error = ""

    # --- The interface ---------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        task: str,
        trigger: Trigger,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        start_immediately: bool = False,
    ) -> JobRecord:
        plain_args, plain_kwargs = json_arguments(args, kwargs)
        _check_id(job_id)

        def add() -> JobRecord:
            aps = self._scheduler()
            try:
                job = aps.add_job(
                    run_task,
                    trigger=TickTrigger(trigger),
                    args=[task, plain_args, plain_kwargs],
                    id=job_id,
                    name=task,
                )
            except ConflictingIdError:
                raise SchedulerError(f"a job named {job_id!r} exists already") from None
            if start_immediately:
                self._run_once(job_id, task, plain_args, plain_kwargs, str(uuid.uuid4()))
            return self._record(job)

        predicted = JobRecord(
            id=job_id,
            task=task,
            trigger=trigger,
            args=tuple(plain_args),
            kwargs=plain_kwargs,
            next_run_at=first_tick_from(trigger, datetime.now(UTC)),
        )
        return self._now_or_on_commit(job_id, f"add {job_id}", add, lambda: predicted)

    def update_job(
        self,
        job_id: str,
        *,
        task: str | None = None,
        trigger: Trigger | None = None,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> JobRecord:
        if args is not None or kwargs is not None:
            json_arguments(args or (), kwargs)

        def update() -> JobRecord:
            aps = self._scheduler()
            job = aps.get_job(job_id)
            if job is None:
                raise JobNotFound(f"no job named {job_id!r}")
            old_task, old_args, old_kwargs = job.args
            new_task = old_task if task is None else task
            new_args, new_kwargs = json_arguments(
                old_args if args is None else args, old_kwargs if kwargs is None else kwargs
            )
            changes: dict[str, Any] = {"args": [new_task, new_args, new_kwargs], "name": new_task}
            if trigger is not None:
                changes["trigger"] = TickTrigger(trigger)
                if job.next_run_time is not None:  # a paused job stays paused
                    changes["next_run_time"] = first_tick_from(trigger, datetime.now(UTC))
            return self._record(aps.modify_job(job_id, **changes))

        def predicted() -> JobRecord:
            current = self.get_job(job_id)
            if current is None:
                raise JobNotFound(f"no job named {job_id!r}")
            new_trigger = trigger or current.trigger
            return JobRecord(
                id=job_id,
                task=task or current.task,
                trigger=new_trigger,
                args=current.args if args is None else tuple(args),
                kwargs=current.kwargs if kwargs is None else dict(kwargs),
                enabled=current.enabled,
                next_run_at=first_tick_from(new_trigger, datetime.now(UTC))
                if current.enabled
                else None,
                last_run_at=current.last_run_at,
            )

        return self._now_or_on_commit(job_id, f"update {job_id}", update, predicted)

    def remove_job(self, job_id: str) -> None:
        def remove() -> None:
            try:
                self._scheduler().remove_job(job_id)
            except JobLookupError:
                raise JobNotFound(f"no job named {job_id!r}") from None

        if not connection.in_atomic_block:
            remove()
            return
        pending, record = _pending(job_id)
        if (pending and record is None) or (not pending and not self._is_stored(job_id)):
            raise JobNotFound(f"no job named {job_id!r}")
        transaction.on_commit(_PendingChange(job_id, f"remove {job_id}", None, remove))

    def get_job(self, job_id: str) -> JobRecord | None:
        pending, record = _pending(job_id)
        if pending:
            return record
        job = self._scheduler().get_job(job_id)
        if job is None or job_id.startswith(RUN_NOW_PREFIX):
            return None
        return self._record(job, self._store_or_fail().last_run_times(job_id))

    def get_jobs(self) -> list[JobRecord]:
        aps = self._scheduler()
        last_runs = self._store_or_fail().last_run_times()
        jobs = [job for job in aps.get_jobs() if not job.id.startswith(RUN_NOW_PREFIX)]
        records: dict[str, JobRecord | None] = {
            job.id: self._record(job, last_runs) for job in jobs
        }
        for change in _pending_changes():
            records[change.job_id] = change.record
        return sorted((r for r in records.values() if r is not None), key=lambda r: r.id)

    def pause_job(self, job_id: str) -> JobRecord:
        def pause() -> JobRecord:
            try:
                return self._record(self._scheduler().pause_job(job_id))
            except JobLookupError:
                raise JobNotFound(f"no job named {job_id!r}") from None

        return self._now_or_on_commit(
            job_id,
            f"pause {job_id}",
            pause,
            lambda: _replace(self._existing(job_id), enabled=False),
        )

    def resume_job(self, job_id: str) -> JobRecord:
        def resume() -> JobRecord:
            try:
                return self._record(self._scheduler().resume_job(job_id))
            except JobLookupError:
                raise JobNotFound(f"no job named {job_id!r}") from None

        def predicted() -> JobRecord:
            current = self._existing(job_id)
            upcoming = first_tick_from(current.trigger, datetime.now(UTC))
            return _replace(current, enabled=True, next_run_at=upcoming)

        return self._now_or_on_commit(job_id, f"resume {job_id}", resume, predicted)

    def run_job_now(self, job_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
        job = self._existing(job_id)
        task_id = str(uuid.uuid4())
        merged = {**job.kwargs, **(kwargs or {})}
        self._run_once(job_id, job.task, list(job.args), merged, task_id)
        return task_id

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

    def health(self) -> str:
        if self._lease is not None and self._lease.last_error:
            raise SchedulerError(f"this process cannot join the election: {self._lease.last_error}")
        if self.start_error:
            raise SchedulerError(f"APScheduler did not start here: {self.start_error}")
        holder = lease_holder_pid()
        if holder is None:
            raise SchedulerError(
                "no process leads APScheduler, so no job fires: start the web processes or "
                "`manage.py run_scheduler`"
            )
        jobs = self.get_jobs()
        broken = dict(self._store_or_fail().broken)
        if broken:
            listed = "; ".join(f"{job_id}: {why}" for job_id, why in sorted(broken.items()))
            raise SchedulerError(f"{len(broken)} jobs cannot be loaded (kept): {listed}")
        where = "this process" if self.is_leader else f"database session {holder}"
        return f"APScheduler: {len(jobs)} jobs, leader is {where}"

    # --- Leadership ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._lease is not None and self._lease.is_leader

    def _lead(self) -> None:
        aps = self._scheduler()
        try:
            startup_hooks_run(scheduler=self)
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
                executors={"default": ThreadPoolExecutor(THREADS)},
                job_defaults=JOB_DEFAULTS,
                timezone=UTC,
            )
            aps.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
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

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.job_id.startswith(RUN_NOW_PREFIX) or self._store is None:
            return
        try:
            self._store.record_run(event.job_id, datetime.now(UTC))
        except Exception:
            logger.exception("recording the run of %s failed", event.job_id)

    def _run_once(
        self, job_id: str, task: str, args: list[Any], kwargs: dict[str, Any], task_id: str
    ) -> None:
        """A one-off job for the leader: it runs within a second if a leader is up."""
        self._scheduler().add_job(
            run_task,
            trigger=DateTrigger(run_date=datetime.now(UTC), timezone=UTC),
            args=[task, args, kwargs, task_id],
            id=f"{RUN_NOW_PREFIX}{job_id}:{task_id}",
            name=task,
        )

    def _existing(self, job_id: str) -> JobRecord:
        job = self.get_job(job_id)
        if job is None:
            raise JobNotFound(f"no job named {job_id!r}")
        return job

    def _is_stored(self, job_id: str) -> bool:
        store = self._store_or_fail()
        with store.engine.begin() as conn:
            found = conn.execute(select(store.jobs_t.c.id).where(store.jobs_t.c.id == job_id))
            return found.first() is not None

    def _now_or_on_commit(
        self,
        job_id: str,
        what: str,
        change: Callable[[], JobRecord],
        predicted: Callable[[], JobRecord],
    ) -> JobRecord:
        """Change the store now, or, inside a transaction, when it commits.

        Until then, `get_job`/`get_jobs` in this transaction show the job as it will be.
        """
        if not connection.in_atomic_block:
            return change()
        record = predicted()
        transaction.on_commit(_PendingChange(job_id, what, record, change))
        return record

    def _record(self, job: Job, last_runs: Mapping[str, datetime] | None = None) -> JobRecord:
        task, args, kwargs = job.args
        return JobRecord(
            id=job.id,
            task=task,
            trigger=job.trigger.trigger,
            args=tuple(args),
            kwargs=dict(kwargs),
            enabled=job.next_run_time is not None,
            next_run_at=job.next_run_time.astimezone(UTC) if job.next_run_time else None,
            last_run_at=(last_runs or {}).get(job.id),
        )


@dataclasses.dataclass
class _PendingChange:
    """A job store change waiting for the transaction to commit (an on_commit callback)."""

    job_id: str
    what: str
    record: JobRecord | None  # the job after the change; None once removed
    change: Callable[[], object]

    def __call__(self) -> None:
        try:
            self.change()
        except Exception:
            # The caller's data is committed; `sync_schedules` (and every leader start)
            # repairs the job from it.
            logger.exception("scheduler: %s after commit failed", self.what)


def _pending_changes() -> list[_PendingChange]:
    """This transaction's job changes not made yet (rolled-back savepoints drop theirs)."""
    if not connection.in_atomic_block:
        return []
    return [func for _, func, _ in connection.run_on_commit if isinstance(func, _PendingChange)]


def _pending(job_id: str) -> tuple[bool, JobRecord | None]:
    """Whether this transaction changes the job, and the job after those changes."""
    for change in reversed(_pending_changes()):
        if change.job_id == job_id:
            return True, change.record
    return False, None


def _check_id(job_id: str) -> None:
    if not job_id or job_id.startswith(RUN_NOW_PREFIX) or len(job_id) > 191:
        raise SchedulerError(f"bad job id {job_id!r}")


def _replace(record: JobRecord, **changes: Any) -> JobRecord:
    if changes.get("enabled") is False:
        changes["next_run_at"] = None
    return dataclasses.replace(record, **changes)
