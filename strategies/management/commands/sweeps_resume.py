"""`manage.py sweeps_resume`: re-send the work running sweeps lost."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from strategies.sweeps.services import sweeps_resume


class Command(BaseCommand):
    help = (
        "Re-send the chunks running sweeps lost (neither queued nor running), and a stalled "
        "optimiser's next step: after every process was stopped, a sweep goes on from its "
        "result rows. The `sweeps.resume` system job does this every few minutes."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = sweeps_resume()
        self.stdout.write(f"re-sent lost work of {len(resumed)} sweep(s): {resumed}")
