"""Reconcile strategy jobs with the strategies and print what changed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from project.scheduling import get_scheduler
from strategies.services import strategy_schedules_sync


class Command(BaseCommand):
    help = (
        "Make the scheduler hold exactly one job per active strategy: create missing jobs, "
        "fix drifted triggers, resume paused ones, remove jobs of stopped or deleted strategies."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = strategy_schedules_sync()
        finally:
            get_scheduler().shutdown()
        for label, job_ids in (
            ("created", result.created),
            ("updated", result.updated),
            ("resumed", result.resumed),
            ("removed", result.removed),
        ):
            for job_id in job_ids:
                self.stdout.write(f"{label} {job_id}")
        if not result.changed:
            self.stdout.write("no changes")
        self.stdout.write(f"Reloaded {result.active} active strategies")
        if result.failed:
            failures = "; ".join(f"{job}: {why}" for job, why in result.failed.items())
            raise CommandError(f"{len(result.failed)} jobs could not be reconciled: {failures}")
