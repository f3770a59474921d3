"""The scheduler interface every backend implements, its triggers and its job record.

Backends live in `tasks.scheduling` and are chosen by `SCHEDULER_BACKEND`; code in lower
layers (the strategy lifecycle) reaches them only through `get_scheduler()`, which loads the
configured class by dotted path, as Django does for `EMAIL_BACKEND`.

Ticks: a trigger defines a grid of moments (interval: `anchor + k * every`; crontab: its fire
times). A job belongs to exactly one tick each time it fires, which is what makes a strategy run
idempotent per (strategy, tick). Backends fire on the grid; `Trigger.tick_at` maps the moment a
job actually starts (a little late, or a hair early) back to its tick.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.module_loading import import_string

from project.kernel.crontab import CRONTAB_FIELDS, crontab_join, crontab_split

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A job that starts this much before its tick is counted as that tick (clock skew, rounding).
EARLY_TOLERANCE = timedelta(seconds=2)


class SchedulerError(Exception):
    """A scheduler call that cannot be carried out, with a message a user can act on."""


class JobNotFound(SchedulerError):
    pass


class InvalidTrigger(SchedulerError, ValueError):
    pass


@dataclass(frozen=True)
class IntervalTrigger:
    """Every `seconds`, on the grid `anchor + k * seconds` (anchor defaults to the Unix epoch)."""

    seconds: int
    anchor: datetime = EPOCH

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise InvalidTrigger(f"an interval must be at least 1 second, got {self.seconds}")
        if self.anchor.tzinfo is None:
            raise InvalidTrigger("an interval's anchor must be timezone-aware")

    @property
    def every(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def tick_at(self, moment: datetime) -> datetime:
        """The latest tick at or before `moment` (plus the early tolerance)."""
        elapsed = (moment + EARLY_TOLERANCE - self.anchor).total_seconds()
        return self.anchor + self.every * math.floor(elapsed / self.seconds)

    def next_tick(self, after: datetime) -> datetime:
        """The first tick strictly after `after`."""
        elapsed = (after - self.anchor).total_seconds()
        return self.anchor + self.every * (math.floor(elapsed / self.seconds) + 1)

    def describe(self) -> str:
        return f"every {self.seconds}s"

    def grid(self, start: datetime, end: datetime) -> tuple[datetime, int]:
        """The first tick at or after `start` and how many ticks fall in [start, end): the
        ticks the backends fire, as a backtest replays them (`first + k * every`)."""
        first = self.next_tick(start - timedelta(microseconds=1))
        if first >= end:
            return first, 0
        return first, math.ceil((end - first) / self.every)


@dataclass(frozen=True)
class CrontabTrigger:
    """Five crontab fields evaluated in an IANA time zone."""

    minute: str = "*"
    hour: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    day_of_week: str = "*"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidTrigger(f"unknown time zone {self.timezone!r}") from None
        try:
            self._cron  # noqa: B018 - parse now, so a bad expression fails where it is made
        except ValueError as error:
            raise InvalidTrigger(f"bad crontab {self.expression!r}: {error}") from None

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CrontabTrigger:
        fields = crontab_split(expression)
        if len(fields) != len(CRONTAB_FIELDS):
            raise InvalidTrigger(
                f"a crontab has five fields (minute hour day month weekday), got {expression!r}"
            )
        return cls(*fields, timezone=timezone)

    @property
    def expression(self) -> str:
        return crontab_join([getattr(self, name) for name in CRONTAB_FIELDS])

    @functools.cached_property
    def _cron(self) -> Any:
        # Celery's parser decides what each field means (weekday 0 is Sunday, as in crontab):
        # beat fires on it, so the ticks computed here must agree. APScheduler 3 numbers
        # weekdays from Monday, so it gets the expanded values, never the raw expression.
        from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
        from celery.schedules import crontab

        parsed = crontab(
            minute=self.minute,
            hour=self.hour,
            day_of_month=self.day_of_month,
            month_of_year=self.month_of_year,
            day_of_week=self.day_of_week,
        )
        return APSCronTrigger(
            minute=_listed(parsed.minute, 60),
            hour=_listed(parsed.hour, 24),
            day=_listed(parsed.day_of_month, 31),
            month=_listed(parsed.month_of_year, 12),
            day_of_week=_listed({WEEKDAYS[day] for day in parsed.day_of_week}, 7),
            timezone=ZoneInfo(self.timezone),
        )

    def next_tick(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`, as cron keeps it across DST changes.

        A time skipped by spring-forward fires at the same minute of the next hour (02:30
        becomes 03:30); a fixed hour repeated by fall-back fires once, at its first pass, as
        in Vixie cron. Jobs on every hour (`*`) fire each real hour, both passes included.
        """
        fire = self._fire_after(after)
        if self.hour != "*" and _second_pass(fire.astimezone(ZoneInfo(self.timezone))):
            fire = self._fire_after(fire)
        return fire

    def _fire_after(self, after: datetime) -> datetime:
        """APScheduler's next fire time, in UTC (wall-clock arithmetic would lose the fold)."""
        start = after.astimezone(UTC) + timedelta(microseconds=1)
        fire = self._cron.get_next_fire_time(None, start)
        if fire is None:
            raise InvalidTrigger(f"crontab {self.expression!r} never fires after {after}")
        return fire.astimezone(UTC)

    def tick_at(self, moment: datetime) -> datetime:
        """The latest fire time at or before `moment` (plus the early tolerance)."""
        target = moment + EARLY_TOLERANCE
        for lookback in (timedelta(hours=2), timedelta(days=2), timedelta(days=400)):
            tick = None
            candidate = self.next_tick(target - lookback)
            while candidate <= target:
                tick = candidate
                candidate = self.next_tick(candidate)
            if tick is not None:
                return tick
        raise InvalidTrigger(f"crontab {self.expression!r} has not fired in the past 400 days")

    def describe(self) -> str:
        return f"cron {self.expression} ({self.timezone})"


def _second_pass(local: datetime) -> bool:
    """Whether this wall-clock time is its second occurrence (the hour repeated by fall-back)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _listed(values: set[Any], size: int) -> str:
    """A crontab field for APScheduler: `*` for every value, else the values comma-separated."""
    return "*" if len(values) == size else ",".join(str(v) for v in sorted(values, key=str))


Trigger = IntervalTrigger | CrontabTrigger


def ticks_between(trigger: Trigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every tick of `trigger` in [start, end), oldest first: what the backends fire, by
    `next_tick`, for a backtest to replay."""
    tick = trigger.next_tick(start - timedelta(microseconds=1))
    while tick < end:
        yield tick
        tick = trigger.next_tick(tick)


def trigger_field_errors(*, crontab: str, timezone: str) -> dict[str, str]:
    """The one check of a crontab and its time zone, for every form, serializer and service.

    Errors by the field each concerns (`crontab_timezone`, else `crontab`); empty when valid.
    An empty crontab (the interval applies) has only its time zone checked.
    """
    try:
        CrontabTrigger(timezone=timezone)
    except InvalidTrigger as error:
        return {"crontab_timezone": str(error)}
    if crontab:
        try:
            CrontabTrigger.parse(crontab, timezone)
        except InvalidTrigger as error:
            return {"crontab": str(error)}
    return {}


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
