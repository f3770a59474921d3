"""The cleanup round: each app deletes its own expired rows; Celery's results are ours."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django_celery_results.models import TaskResult

from marketdata.retention import market_data_cleanup
from project.kernel.db import delete_in_batches
from strategies.retention import strategy_runs_delete_expired
from tasks.models import Firing, FiringStatus


def task_results_delete_expired(*, now: datetime) -> int:
    """Delete Celery task results older than RETENTION_TASK_RESULT_DAYS."""
    if not settings.RETENTION_TASK_RESULT_DAYS:
        return 0
    cutoff = now - timedelta(settings.RETENTION_TASK_RESULT_DAYS)
    old = TaskResult.objects.filter(date_done__lt=cutoff)
    return delete_in_batches(old, batch_size=settings.RETENTION_BATCH_SIZE)


def firings_delete_expired(*, now: datetime) -> int:
    """Delete beat firing rows older than RETENTION_FIRING_DAYS; pending ones stay to be sent."""
    if not settings.RETENTION_FIRING_DAYS:
        return 0
    cutoff = now - timedelta(settings.RETENTION_FIRING_DAYS)
    old = Firing.objects.filter(scheduled_tick__lt=cutoff).exclude(status=FiringStatus.PENDING)
    return delete_in_batches(old, batch_size=settings.RETENTION_BATCH_SIZE)


def data_retention_apply(*, now: datetime) -> dict[str, int]:
    """Delete everything past its retention; the count deleted per kind."""
    report = market_data_cleanup(now=now)
    report["strategy_runs"] = strategy_runs_delete_expired(now=now)
    report["task_results"] = task_results_delete_expired(now=now)
    report["firings"] = firings_delete_expired(now=now)
    return report
