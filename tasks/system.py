"""System jobs that watch the service itself."""

from celery import shared_task

from tasks.health.report import health_detail_report


@shared_task(name="health_check", ignore_result=False)
def health_check() -> dict[str, object]:
    """The report is the task's result: django-celery-results keeps it as a TaskResult row."""
    return health_detail_report()
