"""Install the system jobs (idempotent; admin edits are kept unless --reset)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from project.kernel.scheduling import get_scheduler
from tasks.jobs import system_jobs_install


class Command(BaseCommand):
    help = (
        "Create the system jobs that are missing (collect_crypto_data, update_exchange_symbols, "
        "cleanup_old_data, health_check, sync_user_balances). Existing ones are left as they "
        "are, edits included; --reset restores their defaults."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="restore the default schedule of every job"
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        try:
            result = system_jobs_install(reset=reset)
        finally:
            get_scheduler().shutdown()
        for job_id in result.created:
            self.stdout.write(f"created {job_id}")
        for job_id in result.reset:
            self.stdout.write(f"reset {job_id} to its defaults")
        if result.kept:
            self.stdout.write(f"kept as they are: {', '.join(result.kept)}")
