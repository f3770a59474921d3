"""Retention of strategy runs and task results, and the whole cleanup round."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django_celery_results.models import TaskResult

from marketdata.services import delete_in_batches, market_data_cleanup
from strategies.models import StrategyRun


def strategy_runs_delete_expired(*, now: datetime) -> int:
    """Delete finished runs older than RETENTION_STRATEGY_RUN_DAYS (their orders go with them:
    keep that longer than any audit needs). Running ones are kept whatever their age."""
    if not settings.RETENTION_STRATEGY_RUN_DAYS:
        return 0
    cutoff = now - timedelta(settings.RETENTION_STRATEGY_RUN_DAYS)
    old = StrategyRun.objects.filter(scheduled_tick__lt=cutoff).exclude(
        status=StrategyRun.Status.RUNNING
    )
    return delete_in_batches(old, batch_size=settings.RETENTION_BATCH_SIZE)


def task_results_delete_expired(*, now: datetime) -> int:
    """Delete Celery task results older than RETENTION_TASK_RESULT_DAYS."""
    if not settings.RETENTION_TASK_RESULT_DAYS:
        return 0
    cutoff = now - timedelta(settings.RETENTION_TASK_RESULT_DAYS)
    old = TaskResult.objects.filter(date_done__lt=cutoff)
    return delete_in_batches(old, batch_size=settings.RETENTION_BATCH_SIZE)


def data_retention_apply(*, now: datetime) -> dict[str, int]:
    """Delete everything past its retention; the count deleted per kind."""
    report = market_data_cleanup(now=now)
    report["strategy_runs"] = strategy_runs_delete_expired(now=now)
    report["task_results"] = task_results_delete_expired(now=now)
    return report
