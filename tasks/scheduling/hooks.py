"""Start-up hooks: callables named in SCHEDULER_STARTUP_HOOKS, run when a scheduler starts.

The scheduler backends are infrastructure; the strategy reconcile is domain. A setting names
the callable by dotted path, as Django does, so no backend imports the strategies.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from project.kernel.scheduling import Scheduler, get_scheduler

logger = logging.getLogger(__name__)


def startup_hooks_run(*, scheduler: Scheduler | None = None) -> None:
    """Call each hook with `scheduler=`; one that fails is logged and the scheduler runs on."""
    scheduler = scheduler or get_scheduler()
    for path in settings.SCHEDULER_STARTUP_HOOKS:
        try:
            import_string(path)(scheduler=scheduler)
        except Exception:
            logger.exception("start-up hook %s failed; the scheduler runs on", path)
