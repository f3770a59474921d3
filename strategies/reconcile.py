"""Which strategy jobs should exist, as a query, and the reconcile that hands them to the scheduler.

The strategies layer only says what should exist (one enabled job per active strategy, with
its description); each backend's `jobs_sync` makes its store match, in bulk. Named in
SCHEDULER_STARTUP_HOOKS: a scheduler that synced before reads only the strategies saved since.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import Case, F, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Concat

from project.kernel.scheduling import DesiredJobs, JobsSync, Scheduler, get_scheduler
from strategies.job import (
    JOB_PREFIX,
    crontab_fields_expression,
    every_seconds_expression,
    job_name_expression,
)
from strategies.models import Strategy
from strategies.selectors import job_description
from strategies.services import EXECUTE_TASK

logger = logging.getLogger(__name__)


def strategy_jobs_desired() -> DesiredJobs:
    """One enabled job per active strategy: its task, its id as argument, its trigger."""
    return _desired(Strategy.objects.all(), covered=False)


def _desired(strategies: QuerySet[Strategy], *, covered: bool) -> DesiredJobs:
    job_id = job_name_expression()
    rows = strategies.filter(is_active=True).values(
        job_id=job_id,
        task=Value(EXECUTE_TASK, output_field=TextField()),
        args=Concat(Value("["), Cast(F("id"), TextField()), Value("]"), output_field=TextField()),
        every=every_seconds_expression(),
        cron=Case(When(crontab="", then=None), default=crontab_fields_expression()),
        timezone=F("crontab_timezone"),
        description=job_description(),
    )
    return DesiredJobs(
        prefix=JOB_PREFIX,
        rows=rows,
        covered=strategies.values(job=job_id) if covered else None,
        changed_since=_changed_since,
    )


def _changed_since(moment: datetime) -> DesiredJobs:
    """The strategies saved since `moment` (an indexed range): started, stopped, re-timed."""
    return _desired(Strategy.objects.filter(updated_at__gte=moment), covered=True)


def strategy_jobs_reconcile(*, scheduler: Scheduler | None = None, full: bool = False) -> JobsSync:
    """Exactly one fitting, enabled job per active strategy and none for the others.

    At start-up (not `full`) only strategies saved since the backend's last sync are read;
    `manage.py sync_schedules` reads them all.
    """
    result = (scheduler or get_scheduler()).jobs_sync(strategy_jobs_desired(), full=full)
    logger.info(
        "Reconciled %d strategy jobs%s (created %d, updated %d, removed %d, failed %d)",
        result.desired,
        "" if result.full else " saved since the last sync",
        len(result.created),
        len(result.updated),
        len(result.removed),
        len(result.failed),
    )
    return result
