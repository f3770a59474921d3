"""Retention of strategy runs (their orders go with them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from project.kernel.db import delete_in_batches
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
