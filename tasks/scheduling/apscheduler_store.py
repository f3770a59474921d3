"""The APScheduler job store in PostgreSQL that keeps jobs it cannot load, and its URL."""

from __future__ import annotations

import logging
import pickle
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import Column, Float, String, and_, func, inspect, null, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from tasks.scheduling.apscheduler_jobs import job_spec_of
from tasks.scheduling.leader import connection_kwargs

logger = logging.getLogger(__name__)

# Our columns beside APScheduler's, added to a table made before they existed.
COLUMNS = ("last_run_time double precision", "spec varchar(32)", "load_error varchar(300)")


@dataclass(frozen=True)
class JobFigures:
    enabled: int
    paused: int
    next_run_at: datetime | None
    last_run_at: datetime | None


class KeepingJobStore(SQLAlchemyJobStore):
    """SQLAlchemyJobStore that keeps (and reports) jobs it cannot load, and their last run.

    The stock store deletes a job it fails to unpickle; here it stays in the table, is
    skipped when looking for due jobs, and is listed in `broken` for the health check.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.jobs_t.append_column(Column("last_run_time", Float(25), nullable=True))
        # A digest of what the job does (`job_spec`): `jobs_sync` compares it, not the pickle.
        self.jobs_t.append_column(Column("spec", String(32), nullable=True))
        # Why the job could not be loaded, as the process that tried wrote it (health reads it).
        self.jobs_t.append_column(Column("load_error", String(300), nullable=True))
        self.broken: dict[str, str] = {}
        self.due_since: dict[str, datetime] = {}
        self._broken_lock = threading.Lock()

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        table = self.jobs_t.name
        with self.engine.begin() as conn:  # a table made before these columns existed
            found = inspect(conn)
            have = {column["name"] for column in found.get_columns(table)}
            for column in COLUMNS:
                if column.split()[0] not in have:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}"))
            if f"{table}_load_error" not in {index["name"] for index in found.get_indexes(table)}:
                conn.execute(
                    text(
                        f"CREATE INDEX IF NOT EXISTS {table}_load_error ON {table} (id)"
                        " WHERE load_error IS NOT NULL"
                    )
                )

    def lookup_job(self, job_id: str) -> Job | None:
        selectable = select(self.jobs_t.c.job_state).where(self.jobs_t.c.id == job_id)
        with self.engine.begin() as conn:
            state = conn.execute(selectable).scalar()
        return self._load(job_id, state) if state else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        due = self.jobs_t.c.next_run_time <= datetime_to_utc_timestamp(now)
        jobs = self._get_jobs(due, *self._not_broken())
        with self._broken_lock:
            self.due_since.update({job.id: job.next_run_time for job in jobs})
        return jobs

    def first_due(self, job_id: str) -> datetime | None:
        """The tick a job was due at when last found due: before it, if it fired late, the
        ticks its firing coalesced (APScheduler moves the stored job on before telling)."""
        with self._broken_lock:
            return self.due_since.pop(job_id, None)

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
        insert = self.jobs_t.insert().values(id=job.id, **self._columns(job))
        with self.engine.begin() as conn:
            try:
                conn.execute(insert)
            except IntegrityError:
                raise ConflictingIdError(job.id) from None
        self._forget_broken(job.id)

    def update_job(self, job: Job) -> None:
        update = self.jobs_t.update().values(**self._columns(job)).where(self.jobs_t.c.id == job.id)
        with self.engine.begin() as conn:
            if conn.execute(update).rowcount == 0:
                raise JobLookupError(job.id)

    def _columns(self, job: Job) -> dict[str, Any]:
        return {
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
            "spec": job_spec_of(job),
            "load_error": None,
        }

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

    def overdue(self, *, before: datetime, hidden: str) -> tuple[int, str]:
        """How many enabled jobs were due before `before` (ids starting with `hidden` aside),
        and the oldest: one count and one row over the indexed next run time."""
        jobs = self.jobs_t.c
        late = and_(
            jobs.next_run_time <= datetime_to_utc_timestamp(before),
            ~jobs.id.startswith(hidden, autoescape=True),
        )
        count = select(func.count()).select_from(self.jobs_t).where(late)
        oldest = select(jobs.id, jobs.next_run_time).where(late).order_by(jobs.next_run_time)
        with self.engine.begin() as conn:
            found = conn.execute(count).scalar() or 0
            first = conn.execute(oldest.limit(1)).first() if found else None
        if first is None:
            return found, ""
        return found, f"{first.id!r} due at {utc_timestamp_to_datetime(first.next_run_time)}"

    def job_figures(self, *, hidden: str) -> JobFigures:
        """Enabled and paused jobs (ids starting with `hidden` aside), the earliest next run
        and the latest run: one aggregate over the table."""
        jobs = self.jobs_t.c
        enabled = jobs.next_run_time.is_not(None)
        query = select(
            func.count().filter(enabled),
            func.count().filter(~enabled),
            func.min(jobs.next_run_time),
            func.max(jobs.last_run_time),
        ).where(~jobs.id.startswith(hidden, autoescape=True))
        with self.engine.begin() as conn:
            row = conn.execute(query).one()
        return JobFigures(
            enabled=row[0],
            paused=row[1],
            next_run_at=utc_timestamp_to_datetime(row[2]),
            last_run_at=utc_timestamp_to_datetime(row[3]),
        )

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
            why = f"{type(error).__name__}: {error}"[:300]
            with self._broken_lock:
                first_time = job_id not in self.broken
                self.broken[job_id] = why
            if first_time:
                logger.error("job %s cannot be loaded (kept in the store): %s", job_id, error)
                self._load_error_write(job_id, why)
            return None
        self._forget_broken(job_id)
        return job

    def _load_error_write(self, job_id: str, why: str) -> None:
        """Tell every process (health asks any of them) that this job cannot be loaded."""
        update = self.jobs_t.update().where(self.jobs_t.c.id == job_id).values(load_error=why)
        with self.engine.begin() as conn:
            conn.execute(update)

    def load_errors(self, limit: int = 20) -> dict[str, str]:
        """Jobs some process could not load, with why (a partial index holds only those), and
        this process's own."""
        jobs = self.jobs_t.c
        query = select(jobs.id, jobs.load_error).where(jobs.load_error.is_not(None)).limit(limit)
        with self.engine.begin() as conn:
            found = {row.id: row.load_error for row in conn.execute(query)}
        with self._broken_lock:
            return {**found, **self.broken}

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
