"""The CPU priority of a worker that consumes only the `backtests` queue (BACKTEST_WORKER_PRIORITY).

With "idle" the worker's process and the pool processes it forks run under Linux's SCHED_IDLE:
a strategy worker's process that wakes up takes the core at once, where `nice` alone (even 19)
still leaves a backtest a share of each core and makes the waking process wait its turn. Where
the system has no SCHED_IDLE it falls back to nice 19. A worker that also consumes a live
queue is never lowered.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import signals
from django.conf import settings

from strategies.backtesting.services import BACKTESTS_QUEUE

logger = logging.getLogger(__name__)


@signals.celeryd_after_setup.connect
def backtests_worker_priority(sender: str, instance: Any, **kwargs: Any) -> None:
    """Lower the priority before the pool forks (its processes inherit it)."""
    queues = instance.app.amqp.queues.consume_from
    if settings.BACKTEST_WORKER_PRIORITY != "idle" or set(queues or ()) != {BACKTESTS_QUEUE}:
        return
    logger.info("%s: %s", sender, priority_idle())


def priority_idle() -> str:
    """This process (every thread of it) at SCHED_IDLE, or nice 19 where there is none."""
    if not hasattr(os, "SCHED_IDLE"):
        os.nice(19 - os.nice(0))
        return "nice 19 (no SCHED_IDLE here)"
    threads = Path("/proc/self/task")
    ids = [int(t.name) for t in threads.iterdir()] if threads.is_dir() else [0]
    for thread in ids:
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    return f"SCHED_IDLE ({len(ids)} threads)"
