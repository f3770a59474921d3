"""`manage.py run_job JOB_ID`: run a scheduled job once now, through the configured scheduler."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from project.kernel.scheduling import JobNotFound, get_scheduler


class Command(BaseCommand):
    help = (
        "Run a scheduled job once now, besides its schedule (`make run` collects market data "
        "this way at start-up instead of waiting for the next 10-minute tick)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", help="e.g. collect_crypto_data or strategy_12")

    def handle(self, *args: Any, job_id: str, **options: Any) -> None:
        try:
            task_id = get_scheduler().run_job_now(job_id)
        except JobNotFound as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{job_id}: queued as task {task_id}")
