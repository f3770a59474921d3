"""The recovery sweep job: settle runs and live orders that lost processes left behind."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from strategies.recovery import runs_recover


@shared_task(name="recover_runs")
def recover_runs() -> dict[str, int]:
    """Idempotent: a run or order is settled once, by whoever takes its lease or row first."""
    return asdict(runs_recover())
