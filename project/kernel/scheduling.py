"""The scheduler interface every backend implements, and its job record.

Backends live in `tasks.scheduling` and are chosen by `SCHEDULER_BACKEND`; code in lower
layers (the strategy lifecycle) reaches them only through `get_scheduler()`, which loads the
configured class by dotted path, as Django does for `EMAIL_BACKEND`.

The triggers (`project.kernel.triggers`) are named here too: callers import the interface and
its triggers from one place.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from project.kernel.triggers import EARLY_TOLERANCE as EARLY_TOLERANCE
from project.kernel.triggers import EPOCH as EPOCH
from project.kernel.triggers import CrontabTrigger as CrontabTrigger
from project.kernel.triggers import IntervalTrigger as IntervalTrigger
from project.kernel.triggers import InvalidTrigger as InvalidTrigger
from project.kernel.triggers import SchedulerError as SchedulerError
from project.kernel.triggers import Trigger as Trigger
from project.kernel.triggers import ticks_between as ticks_between
from project.kernel.triggers import trigger_field_errors as trigger_field_errors


class JobNotFound(SchedulerError):
    pass


@dataclass(frozen=True)
class JobRecord:
    """What every backend reports about a job, in the same shape."""

    id: str
    task: str
    trigger: Trigger
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    description: str = ""  # for people reading job lists: what the job is for


@dataclass(frozen=True)
class DesiredJobs:
    """The jobs that should exist under one id prefix, as queries a backend reads in bulk.

    `rows` is a Django values() query with the columns `job_id`, `task`, `args` (a JSON list as
    text), `every` (seconds; NULL for a crontab), `cron` (the crontab's fields as a text array,
    as `crontab_split` splits them; NULL for an interval), `timezone` and `description`. A job
    is enabled, on the epoch grid, with no kwargs. `changed_since(moment)` returns the same set
    narrowed to the ids that may have changed since then (`covered`), so a backend that synced
    before reads only those; a `covered` of None means every id under `prefix`.
    """

    prefix: str
    rows: Any
    covered: Any = None
    changed_since: Callable[[datetime], DesiredJobs] | None = None


@dataclass
class JobsSync:
    """What a `jobs_sync` changed, job id by job id, for the log and `sync_schedules`."""

    desired: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    full: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


@dataclass(frozen=True)
class SchedulerGauges:
    """What /metrics shows of any backend: its firing processes and its jobs in aggregate (a
    series per job would be one per strategy; `/api/jobs/` lists each job's runs)."""

    firing_processes: int  # live beats (celery); the leader holding the lease, 0 or 1
    heartbeat_at: datetime | None  # the freshest heartbeat of such a process; None: none known
    jobs_enabled: int
    jobs_paused: int
    next_run_at: datetime | None  # the earliest next run of an enabled job
    last_run_at: datetime | None  # the latest run of any job


class Scheduler(abc.ABC):
    """Schedules Celery tasks, by their stable registered name, on triggers.

    Implementations: `tasks.scheduling.celery_backend.CeleryBeatScheduler` (django-celery-beat
    rows; beat runs them) and `tasks.scheduling.apscheduler_backend.APSchedulerScheduler`
    (in-process). Every method that changes jobs takes effect in the caller's database
    transaction where the backend can (Celery) and otherwise after it commits, so a
    strategy and its job never disagree after a rollback.
    Arguments are JSON values: a job must survive a restart of any process.
    """

    @abc.abstractmethod
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
        """Create job `job_id`; with `start_immediately` it also runs once now.

        `description` is free text for the people reading job lists (beat's admin, Flower's
        neighbours): a strategy's job names the strategy. Raises SchedulerError if a job with
        that id exists.
        """

    @abc.abstractmethod
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
        """Change what is given and keep the rest. Raises JobNotFound."""

    @abc.abstractmethod
    def remove_job(self, job_id: str) -> None:
        """Delete the job. Raises JobNotFound."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job, or None."""

    @abc.abstractmethod
    def get_jobs(self) -> list[JobRecord]:
        """Every job this scheduler manages, ordered by id."""

    @abc.abstractmethod
    def pause_job(self, job_id: str) -> JobRecord:
        """Keep the job but stop firing it (`enabled` False, no `next_run_at`)."""

    @abc.abstractmethod
    def resume_job(self, job_id: str) -> JobRecord:
        """Fire a paused job again from its next tick."""

    @abc.abstractmethod
    def run_job_now(self, job_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
        """Run the job's task once now, outside its schedule; returns the Celery task id.

        `kwargs` are merged over the job's own for this one run (a strategy's "run now" passes
        its own tick, so it never collides with the scheduled one).
        """

    @abc.abstractmethod
    def start(self) -> None:
        """Begin firing jobs in this process, where the backend does that (no-op otherwise)."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Stop firing jobs in this process and release what `start` took."""

    @abc.abstractmethod
    def jobs_sync(self, desired: DesiredJobs, *, full: bool = False) -> JobsSync:
        """Make the jobs under `desired.prefix` exactly `desired.rows`, set-based.

        Missing jobs are created, drifted or paused ones rewritten and enabled, and jobs under
        the prefix that are not desired removed; jobs outside the prefix are never touched.
        The work is a fixed number of bulk statements, whatever the number of jobs. Unless
        `full`, a backend that recorded an earlier sync of this prefix reads only
        `desired.changed_since(<that sync> - a margin)`: start-up costs what changed, not what
        exists. A desired row whose schedule cannot be read is reported in `failed`.
        """

    @abc.abstractmethod
    def due_jobs_count(self) -> int:
        """Enabled jobs whose tick has come and that have not fired yet (one indexed count)."""

    @abc.abstractmethod
    def gauges(self) -> SchedulerGauges:
        """The figures /metrics shows, from a few aggregate queries (never a job list)."""

    def health(self) -> str:
        """One line on the state of the scheduler for /health/.

        Raises SchedulerError with the reason when jobs would not fire (no scheduler process,
        jobs that fail to load); the health check then reports the service as degraded.
        """
        return ""

    def processes(self) -> list[dict[str, Any]]:
        """The processes that fire this backend's jobs (celery: the live beats; APScheduler:
        its leader), as plain values for /health/detail/; empty where none is known."""
        return []


def get_scheduler() -> Scheduler:
    """The configured backend (settings.SCHEDULER_BACKEND); one instance per process."""
    return _instance(settings.SCHEDULER_BACKEND)


@functools.cache
def _instance(path: str) -> Scheduler:
    return import_string(path)()
