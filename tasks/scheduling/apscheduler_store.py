"""The APScheduler job store in PostgreSQL that keeps jobs it cannot load, and its URL."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import Column, Float, and_, null, select
from sqlalchemy.engine import URL

from tasks.scheduling.leader import (
    connection_kwargs,
)

logger = logging.getLogger(__name__)


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
