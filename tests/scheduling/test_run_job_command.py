"""`manage.py run_job`: a job runs once now through the configured scheduler, in a real worker."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult

from project.kernel.scheduling import IntervalTrigger, get_scheduler
from tests.processes import ManagedProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.integration
def test_run_job_queues_the_job_and_a_worker_runs_it(celery_worker: ManagedProcess) -> None:
    get_scheduler().add_job("health_check", "health_check", IntervalTrigger(3600))
    out = io.StringIO()

    call_command("run_job", "health_check", stdout=out)

    task_id = out.getvalue().strip().rsplit(" ", 1)[-1]
    stored = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first(),
        what="the job's task result",
    )
    assert stored.task_name == "health_check"


def test_run_job_names_a_missing_job() -> None:
    with pytest.raises(CommandError, match="no job named 'nope'"):
        call_command("run_job", "nope")
