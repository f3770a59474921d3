"""Reads of the APScheduler backend's jobs for people and tools: each job with its next and last
run, the timing of its latest firing and the ticks it missed (from the firing rows)."""

from __future__ import annotations

import functools
import pickle
from typing import Any

from django.conf import settings
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from project.kernel.scheduling import get_scheduler
from strategies.models import Strategy
from tasks.models import APSchedulerJob, Firing
from tasks.scheduling.apscheduler_jobs import RUN_NOW_PREFIX, stored_job_description
from tasks.selectors import _latest_firing


def apscheduler_configured() -> bool:
    """Whether the configured backend (SCHEDULER_BACKEND) keeps its jobs in APScheduler's store."""
    return settings.SCHEDULER_BACKEND_NAME == "apscheduler"


def apscheduler_jobs(jobs: QuerySet[APSchedulerJob] | None = None) -> QuerySet[APSchedulerJob]:
    """The backend's jobs (run-now one-offs aside) with their latest firing and missed ticks;
    none while another backend is configured (its table may not exist).

    Opens the store first: APScheduler creates its table on first use.
    """
    if not apscheduler_configured():
        return APSchedulerJob.objects.none()
    get_scheduler()._store_or_fail()  # type: ignore[attr-defined]
    missed = (
        Firing.objects.filter(job_name=OuterRef("id"))
        .order_by()
        .values("job_name")
        .annotate(total=Sum("missed_ticks"))
        .values("total")
    )
    return (
        (jobs if jobs is not None else APSchedulerJob.objects.all())
        .exclude(id__startswith=RUN_NOW_PREFIX)
        .annotate(
            missed_ticks=Coalesce(Subquery(missed, output_field=IntegerField()), 0),
            **_latest_firing(OuterRef("id")),
        )
    )


def owned_job_names(*, owner_id: int) -> list[str]:
    """The job ids of one user's strategies (`Strategy.job_id`)."""
    return [strategy.job_id for strategy in Strategy.objects.filter(owner_id=owner_id).only("pk")]


def apscheduler_job_state(job: APSchedulerJob) -> dict[str, Any]:
    """What a stored job does: its task, arguments, trigger and description (unpickled once
    per distinct state)."""
    return _state(bytes(job.job_state))


@functools.lru_cache(maxsize=1024)
def _state(raw: bytes) -> dict[str, Any]:
    state = pickle.loads(raw)  # noqa: S301 - our own job store, written by this backend
    task, args, kwargs = state["args"]
    return {
        "task": task,
        "args": args,
        "kwargs": kwargs,
        "schedule": str(state["trigger"]),
        "description": stored_job_description(state["name"], task),
    }
