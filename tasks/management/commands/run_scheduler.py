"""Run the APScheduler backend as its own process; one of several such processes leads."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from project.kernel.scheduling import get_scheduler

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Join the APScheduler leader election and fire jobs while leading, until SIGTERM or "
        "Ctrl-C. Run as many as you like: one leads, the others take over within seconds."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.SCHEDULER_BACKEND_NAME != "apscheduler":
            raise CommandError(
                f"SCHEDULER_BACKEND is {settings.SCHEDULER_BACKEND_NAME!r}: run_scheduler runs "
                "the apscheduler backend; with celery, run `celery -A project beat` instead"
            )
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        scheduler = get_scheduler()
        scheduler.start()
        logger.info("run_scheduler %s: in the leader election", os.getpid())
        while not stopping.wait(1.0):
            pass
        logger.info("run_scheduler %s: stopping", os.getpid())
        scheduler.shutdown()
