"""The same health assertions under both backends: the scheduler checks ask the configured
backend whether jobs fire (our beat's heartbeat rows, APScheduler's leader) and for overdue
jobs, so neither backend is reported degraded for being itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from project.kernel.scheduling import IntervalTrigger, Scheduler
from tasks.health.report import health_detail_report
from tasks.health.scheduler import check_scheduler_processes
from tasks.models import JobSchedule
from tests.processes import wait_for

NOTHING_FIRES = {
    "celery": "no live beat: none ticked within",
    "apscheduler": "no process leads APScheduler",
}


def make_overdue(backend: Scheduler, job_id: str, by: timedelta) -> None:
    """Leave the job's next run `by` in the past, as a stopped scheduler process would."""
    long_ago = datetime.now(UTC) - by
    if backend.__class__.__name__ == "CeleryBeatScheduler":
        JobSchedule.objects.filter(periodic_task__name=job_id).update(
            next_fire_at=long_ago, stale=False
        )
        return
    aps: Any = backend._scheduler()  # type: ignore[attr-defined]
    aps.modify_job(job_id, next_run_time=long_ago)  # the pickled state and the indexed column


def test_the_scheduler_check_says_why_when_no_process_fires_jobs(
    use_backend: Scheduler, backend_name: str
) -> None:
    use_backend.add_job("job_a", "health_check", IntervalTrigger(60))

    result = check_scheduler_processes()
    report = health_detail_report()

    assert result.ok is False
    assert NOTHING_FIRES[backend_name] in result.detail
    assert report["detail"]["scheduler_processes"]["ok"] is False
    assert report["status"] == "degraded"


@pytest.mark.usefixtures("a_process_that_fires_nothing")
def test_the_scheduler_check_fails_on_overdue_jobs_though_a_process_looks_alive(
    use_backend: Scheduler,
) -> None:
    use_backend.add_job("job_a", "health_check", IntervalTrigger(60))
    use_backend.add_job("job_b", "health_check", IntervalTrigger(60))
    fine = check_scheduler_processes()
    make_overdue(use_backend, "job_a", by=timedelta(minutes=10))

    result = check_scheduler_processes()

    assert fine.ok is True, fine.detail
    assert "none overdue" in fine.detail
    assert result.ok is False
    assert "1 overdue" in result.detail
    assert "'job_a'" in result.detail


@pytest.mark.integration
def test_the_scheduler_check_is_ok_while_the_real_scheduler_process_fires(
    use_backend: Scheduler, scheduler_process: Callable[[], object]
) -> None:
    use_backend.add_job("job_a", "health_check", IntervalTrigger(2))

    scheduler_process()

    wait_for(lambda: check_scheduler_processes().ok, 60, "the scheduler check to pass")
    wait_for(lambda: use_backend.get_job("job_a").last_run_at is not None, 60, "a firing")
    assert health_detail_report()["detail"]["scheduler_processes"]["ok"] is True
