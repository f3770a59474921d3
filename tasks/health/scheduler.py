"""Health of the configured scheduler backend, answered by the backend itself through the
scheduler interface: `health()` (its processes fire jobs, none overdue) and `processes()`."""

from __future__ import annotations

from django.conf import settings

from project.kernel.scheduling import SchedulerError, get_scheduler
from tasks.health.runner import CheckResult, health_check


@health_check()
def check_scheduler() -> str:
    """Public: degraded when the configured backend's jobs would not fire, with the reason."""
    return get_scheduler().health()


def check_scheduler_processes() -> CheckResult:
    """Detail: the processes that fire the configured backend's jobs, and whether they do."""
    scheduler = get_scheduler()
    processes = scheduler.processes()
    name = settings.SCHEDULER_BACKEND_NAME
    try:
        detail = scheduler.health()
    except SchedulerError as error:
        return CheckResult(False, f"{name}: {error}", data=processes)
    return CheckResult(True, f"{name}: {detail}", data=processes)
