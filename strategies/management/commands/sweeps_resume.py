"""`manage.py sweeps_resume`: re-send the missing work of every running sweep."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from strategies.sweeps.services import sweeps_resume


class Command(BaseCommand):
    help = (
        "Re-send the missing chunks (and the optimiser's next step) of every running sweep: "
        "after every process was stopped, a sweep goes on from its result rows."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = sweeps_resume()
        self.stdout.write(f"resumed {len(resumed)} sweep(s): {resumed}")
