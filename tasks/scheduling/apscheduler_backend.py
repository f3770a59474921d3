"""The APScheduler backend: jobs in a PostgreSQL job store, fired in-process by one leader."""

from __future__ import annotations

import functools
import logging
import pickle
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.triggers.date import DateTrigger
from celery import current_app
from django.db import close_old_connections, connection
from sqlalchemy import select

from project.kernel.scheduling import (
    DesiredJobs,
    IntervalTrigger,
    JobNotFound,
    JobRecord,
    JobsSync,
    Scheduler,
    SchedulerError,
    Trigger,
)
from tasks.scheduling.apscheduler_health import APSchedulerHealth
from tasks.scheduling.apscheduler_jobs import (
    RUN_NOW_PREFIX,
    job_as_updated,
    stored_job_changes,
    stored_job_description,
)
from tasks.scheduling.apscheduler_pending import (
    PendingChange,
    pending_add,
    pending_changes,
    pending_for,
    record_replace,
)
from tasks.scheduling.apscheduler_process import JOB_DEFAULTS, APSchedulerProcess
from tasks.scheduling.apscheduler_sync import apscheduler_jobs_sync
from tasks.scheduling.apscheduler_trigger import TickTrigger
from tasks.scheduling.common import first_tick_from, json_arguments
from tasks.scheduling.messages import firing_kwargs, firing_task_id, run_now_task_id
from tasks.scheduling.ticks import SCHEDULE

logger = logging.getLogger(__name__)


def run_task(
    task: str,
    args: list[Any],
    kwargs: dict[str, Any],
    task_id: str | None = None,
    *,
    job_id: str | None = None,
    tick: datetime | None = None,
) -> None:
    """What every job runs: the Celery task `task`, in this process, with its result stored.

    A scheduled run is the firing of (`job_id`, `tick`) (`apscheduler_runs`): its task id is
    `job@tick` and its task gets the tick, as from our beat; a run-now brings its own task id.
    Jobs reference this function and the task's name, so they load even when the task's
    module does not (yet) exist; such a run is logged and skipped and the job is kept.
    """
    _import_task_modules()
    registered = current_app.tasks.get(task)
    if registered is None:
        logger.error("job task %r is not registered in this process: run skipped", task)
        return
    if job_id is not None and tick is not None:
        task_id = firing_task_id(job_id, tick)
        kwargs = firing_kwargs(task, kwargs, tick, SCHEDULE)
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


class APSchedulerScheduler(APSchedulerHealth, APSchedulerProcess, Scheduler):
    """APScheduler 3 `BackgroundScheduler`, its jobs in PostgreSQL, run by one leader process.

    Every process may change jobs: it writes the shared job store. `start()` joins the
    election (an advisory-lock lease): the winner reconciles strategy jobs and fires jobs in
    a 20-thread pool, re-reading the store every second to see other processes' changes; the
    others stand by. Job store writes are not part of the caller's transaction, so inside
    one they are made when it commits (and dropped if it rolls back).
    """

    # --- The interface ---------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        task: str,
        trigger: Trigger,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        start_immediately: bool = False,
        description: str = "",
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
                    name=description or task,
                )
            except ConflictingIdError:
                raise SchedulerError(f"a job named {job_id!r} exists already") from None
            if start_immediately:
                self._run_once(job_id, task, plain_args, plain_kwargs, run_now_task_id(job_id))
            return self._record(job)

        predicted = JobRecord(
            id=job_id,
            task=task,
            trigger=trigger,
            args=tuple(plain_args),
            kwargs=plain_kwargs,
            next_run_at=first_tick_from(trigger, datetime.now(UTC)),
            description=description,
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
        description: str | None = None,
    ) -> JobRecord:
        if args is not None or kwargs is not None:
            json_arguments(args or (), kwargs)

        def update() -> JobRecord:
            aps = self._scheduler()
            job = aps.get_job(job_id)
            if job is None:
                raise JobNotFound(f"no job named {job_id!r}")
            changes = stored_job_changes(job, task, args, kwargs, description)
            if trigger is not None:
                changes["trigger"] = TickTrigger(trigger)
                if job.next_run_time is not None:  # a paused job stays paused
                    changes["next_run_time"] = first_tick_from(trigger, datetime.now(UTC))
            return self._record(aps.modify_job(job_id, **changes))

        def predicted() -> JobRecord:
            current = self._existing(job_id)
            return job_as_updated(
                current,
                task=task,
                trigger=trigger,
                args=args,
                kwargs=kwargs,
                description=description,
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
        pending, record = pending_for(job_id)
        if (pending and record is None) or (not pending and not self._is_stored(job_id)):
            raise JobNotFound(f"no job named {job_id!r}")
        pending_add(PendingChange(job_id, f"remove {job_id}", None, remove))

    def get_job(self, job_id: str) -> JobRecord | None:
        pending, record = pending_for(job_id)
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
        for change in pending_changes():
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
            lambda: record_replace(self._existing(job_id), enabled=False),
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
            return record_replace(current, enabled=True, next_run_at=upcoming)

        return self._now_or_on_commit(job_id, f"resume {job_id}", resume, predicted)

    def run_job_now(self, job_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
        job = self._existing(job_id)
        task_id = run_now_task_id(job_id)
        merged = {**job.kwargs, **(kwargs or {})}
        self._run_once(job_id, job.task, list(job.args), merged, task_id)
        return task_id

    def jobs_sync(self, desired: DesiredJobs, *, full: bool = False) -> JobsSync:
        """Digests compared in one read, differences upserted in bulk (`apscheduler_sync`).

        Made now, outside the caller's transaction: it reads committed strategies.
        """
        return apscheduler_jobs_sync(
            self._store_or_fail(), desired, full=full, state=self._job_state
        )

    def _job_state(
        self,
        job_id: str,
        task: str,
        args: list[Any],
        trigger: Trigger,
        description: str,
        next_run: datetime,
    ) -> bytes:
        """The pickled state `add_job` would store for this job, for a bulk write: the state of
        one job made through APScheduler, its own parts replaced (making a `Job` per row costs
        more than the rest of the sync)."""
        template = self._state_template()
        state = {
            **template,
            "id": job_id,
            "trigger": TickTrigger(trigger),
            "args": (task, args, {}),
            "name": description or task,
            "next_run_time": next_run,
        }
        return pickle.dumps(state, self._store_or_fail().pickle_protocol)

    @functools.cache  # noqa: B019 - one template per backend instance, which lives as long
    def _state_template(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        job = Job(
            self._scheduler(),
            id="template",
            func=run_task,
            trigger=TickTrigger(IntervalTrigger(60)),
            executor="default",
            args=["template", [], {}],
            kwargs={},
            name="template",
            next_run_time=now,
            **JOB_DEFAULTS,
        )
        return job.__getstate__()

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
        pending_add(PendingChange(job_id, what, record, change))
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
            description=stored_job_description(job.name, task),
        )


def _check_id(job_id: str) -> None:
    if not job_id or job_id.startswith(RUN_NOW_PREFIX) or len(job_id) > 191:
        raise SchedulerError(f"bad job id {job_id!r}")
