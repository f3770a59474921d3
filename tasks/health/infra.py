"""Health of what every part stands on: the database, the broker, and the workers on it."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection

from project.celery import app
from tasks.health.runner import CheckResult, health_check

WORKER_PING_TIMEOUT = 1.0


@health_check(critical=True)
def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return ""


@health_check()
def check_broker() -> str:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return ""


def check_workers() -> CheckResult:
    """Celery control ping: every worker consuming from the broker answers within the timeout."""
    with app.connection_for_write(settings.CELERY_BROKER_URL) as broker:
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT, connection=broker)
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return CheckResult(
            False, f"no worker answered a ping within {WORKER_PING_TIMEOUT}s", data=[]
        )
    return CheckResult(True, f"{len(workers)} worker(s) answered", data=workers)
