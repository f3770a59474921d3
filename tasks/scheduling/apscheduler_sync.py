"""`jobs_sync` on the APScheduler job store: the desired rows compared with the stored jobs by
their digest (never by unpickling them), the differences written in one bulk upsert."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from project.kernel.scheduling import (
    DesiredJobs,
    IntervalTrigger,
    InvalidTrigger,
    JobsSync,
    Trigger,
)
from tasks.scheduling.apscheduler_jobs import job_spec
from tasks.scheduling.apscheduler_store import KeepingJobStore
from tasks.scheduling.celery_backend import crontab_trigger
from tasks.scheduling.common import first_tick_from
from tasks.scheduling.jobsync import snapshot_time, sync_mark, sync_scope

BACKEND = "apscheduler"
CHUNK = 5_000

# (job id, task, args, trigger, description, next run) -> the pickled APScheduler job state.
StateMaker = Callable[[str, str, list[Any], Trigger, str, datetime], bytes]


def apscheduler_jobs_sync(
    store: KeepingJobStore, desired: DesiredJobs, *, full: bool, state: StateMaker
) -> JobsSync:
    """One transaction on the store; two syncs of a prefix take turns (an advisory lock)."""
    scope, whole = sync_scope(backend=BACKEND, desired=desired, full=full)
    result = JobsSync(full=whole)
    started = snapshot_time()
    with store.engine.begin() as conn:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('jobs_sync'), hashtext(:prefix))"),
            {"prefix": desired.prefix},
        )
        stored = _stored(conn, store, scope)
        rows = _changed_rows(scope, stored, result, state)
        for start in range(0, len(rows), CHUNK):
            conn.execute(_upsert(store), rows[start : start + CHUNK])
        result.removed = sorted(stored)
        if result.removed:
            conn.execute(store.jobs_t.delete().where(store.jobs_t.c.id.in_(result.removed)))
    for job_id in result.created + result.updated + result.removed:
        store._forget_broken(job_id)
    sync_mark(backend=BACKEND, prefix=desired.prefix, at=started)
    return result


def _stored(conn: Any, store: KeepingJobStore, scope: DesiredJobs) -> dict[str, Any]:
    """The digest of each stored job this sync covers, and whether it is enabled."""
    jobs = store.jobs_t.c
    query = select(jobs.id, jobs.spec, jobs.next_run_time.is_not(None))
    if scope.covered is not None:
        covered = list(scope.covered.values_list("job", flat=True))
        query = query.where(jobs.id.in_(covered))
    else:
        query = query.where(jobs.id.startswith(scope.prefix, autoescape=True))
    return {job_id: (spec, enabled) for job_id, spec, enabled in conn.execute(query)}


def _changed_rows(
    scope: DesiredJobs, stored: dict[str, Any], result: JobsSync, state: StateMaker
) -> list[dict[str, Any]]:
    """The store rows of desired jobs that are missing or differ; `stored` keeps the others'
    orphans. A row whose schedule cannot be read is reported and its job left as it is."""
    now, rows = datetime.now(UTC), []
    for row in scope.rows.iterator(chunk_size=CHUNK):
        result.desired += 1
        job_id = row["job_id"]
        have = stored.pop(job_id, None)
        try:
            trigger = _trigger(row)
        except InvalidTrigger as error:
            result.failed[job_id] = str(error)
            continue
        args = json.loads(row["args"])
        spec = job_spec(row["task"], args, {}, trigger, row["description"])
        if have == (spec, True):
            continue
        upcoming = first_tick_from(trigger, now)
        job_state = state(job_id, row["task"], args, trigger, row["description"], upcoming)
        rows.append(
            {"id": job_id, "next_run_time": upcoming.timestamp(), "job_state": job_state,
             "spec": spec}
        )  # fmt: skip
        (result.updated if have else result.created).append(job_id)
    return rows


def _trigger(row: Mapping[str, Any]) -> Trigger:
    cron = row["cron"] or []
    if cron:
        if len(cron) != 5:
            raise InvalidTrigger("its crontab does not have five fields")
        return crontab_trigger(*cron, row["timezone"])
    return IntervalTrigger(int(row["every"]))


def _upsert(store: KeepingJobStore) -> Any:
    statement = insert(store.jobs_t)
    columns = ("next_run_time", "job_state", "spec")
    return statement.on_conflict_do_update(
        index_elements=[store.jobs_t.c.id],
        set_={name: statement.excluded[name] for name in columns},
    )
