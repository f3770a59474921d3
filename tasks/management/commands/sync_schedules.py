"""Put every job on the configured backend, silence the others, and print what changed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from project.kernel.scheduling import get_scheduler
from strategies.job import is_strategy_job
from strategies.reconcile import strategy_jobs_reconcile
from tasks.jobs import jobs_leave_other_backends, system_jobs, system_jobs_install


class Command(BaseCommand):
    help = (
        "Make the configured scheduler (SCHEDULER_BACKEND) hold exactly one job per active "
        "strategy and the system jobs, and take them off the other backend: its strategy and "
        "system jobs are removed, any other job of it is paused."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = strategy_jobs_reconcile(full=True)
            installed = system_jobs_install()
        finally:
            get_scheduler().shutdown()
        system_ids = {job.id for job in system_jobs()}
        moved = jobs_leave_other_backends(
            is_recreated=lambda job_id: job_id in system_ids or is_strategy_job(job_id)
        )
        for label, job_ids in (
            ("created", result.created + installed.created),
            ("updated", result.updated),
            ("removed", result.removed),
        ):
            for job_id in job_ids:
                self.stdout.write(f"{label} {job_id}")
        for verb, per_backend in (("removed", moved.removed), ("paused", moved.paused)):
            for backend, job_ids in per_backend.items():
                for job_id in job_ids:
                    self.stdout.write(f"{verb} {job_id} from {backend}")
        if not (result.changed or installed.created or moved.removed or moved.paused):
            self.stdout.write("no changes")
        self.stdout.write(
            f"Reloaded {result.desired} active strategies on {settings.SCHEDULER_BACKEND_NAME}"
        )
        if result.failed:
            failures = "; ".join(f"{job}: {why}" for job, why in result.failed.items())
            raise CommandError(f"{len(result.failed)} jobs could not be reconciled: {failures}")
