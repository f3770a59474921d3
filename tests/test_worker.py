"""A real Celery worker process runs a real task over Redis, with its result in PostgreSQL."""

from __future__ import annotations

import pytest
from django_celery_results.models import TaskResult

from tasks.system import health_check
from tests.processes import ManagedProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_runs_health_check_and_stores_the_result(celery_worker: ManagedProcess) -> None:
    result = health_check.delay()

    report = result.get(timeout=30)

    # No beat runs here, so the detail part may degrade the status; the summary checks pass.
    assert report["status"] in {"ok", "degraded"}
    assert set(report["checks"]) == {"database", "broker", "scheduler", "ticks_recent"}
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["broker"]["ok"] is True
    assert report["detail"]["workers"]["ok"] is True
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "SUCCESS"
    assert stored.task_name == "health_check"
