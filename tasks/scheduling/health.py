"""The scheduler's health check: degraded when jobs would not fire, with the reason."""

from project.health import health_check
from project.scheduling import get_scheduler


@health_check()
def check_scheduler() -> str:
    return get_scheduler().health()
