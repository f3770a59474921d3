"""System jobs that watch the service itself."""

from celery import shared_task

from project import health


@shared_task(name="health_check")
def health_check() -> dict[str, object]:
    return health.report()
