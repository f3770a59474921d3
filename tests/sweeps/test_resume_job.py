"""The `sweeps.resume` system job's task, on a real worker and fired by each backend's own
process, resumes a sweep whose chunk the broker lost, and sends nothing once every chunk is
present again."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from celery import current_app

from project.kernel.scheduling import IntervalTrigger, Scheduler
from strategies.sweeps.messages import chunk_task_id
from strategies.sweeps.models import SweepSet
from strategies.sweeps.services import sweep_create
from tasks.jobs import system_jobs
from tasks.models import Firing
from tests.factories import MarketFactory, UserFactory
from tests.processes import start_celery_worker, wait_for
from tests.sweeps.helpers import (
    candles_add,
    closes_path,
    queue_clear,
    queued_drop,
    queued_ids,
    sweep_data,
    wait_sweep,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_queue() -> Iterator[None]:
    queue_clear()
    yield
    queue_clear()


def test_the_resume_job_resumes_a_sweep_whose_chunk_the_broker_lost_and_only_that() -> None:
    job = next(job for job in system_jobs() if job.id == "sweeps.resume")
    market = MarketFactory()
    candles_add(market, closes_path(300))
    # No backtest worker yet: every chunk waits in the queue, and one is lost from it.
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(market, hours=300))
    chunks = [chunk_task_id(sweep.pk, chunk) for chunk in range(5)]
    dropped = queued_drop(chunks[2])
    system = start_celery_worker(queues="celery")  # where a firing of the system job goes
    try:
        first = current_app.send_task(job.task).get(timeout=120)
        again = current_app.send_task(job.task).get(timeout=120)
        queued = queued_ids()
        backtests = start_celery_worker(concurrency=2, queues="backtests")
        try:
            wait_sweep(sweep.pk, timeout=300)
        finally:
            backtests.stop()
    finally:
        system.stop()

    rows = SweepSet.objects.filter(sweep=sweep)
    assert dropped == 1
    assert (first, again) == ([sweep.pk], [])
    assert sorted(queued) == sorted(chunks)  # the lost chunk once more, no other twice
    assert rows.count() == 20
    assert set(rows.values_list("evaluations", flat=True)) == {1}


def test_each_backend_fires_the_resume_task_which_sends_a_lost_chunk_once(
    use_backend: Scheduler, scheduler_process: Callable[[], object]
) -> None:
    job = next(job for job in system_jobs() if job.id == "sweeps.resume")
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(MarketFactory(), hours=300))
    chunks = [chunk_task_id(sweep.pk, chunk) for chunk in range(5)]
    dropped = queued_drop(chunks[2])
    # The system job's task on a short trigger of its own, fired by the backend's own process
    # (beat and a worker, or the APScheduler leader in-process).
    use_backend.add_job("resume-often", job.task, IntervalTrigger(2))

    scheduler_process()
    wait_for(lambda: chunks[2] in queued_ids(), 90, "the lost chunk sent again")
    ran = Firing.objects.filter(job_name="resume-often", task_ended_at__isnull=False)
    wait_for(lambda: ran.count() >= 3, 90, "three resumes")

    assert dropped == 1
    assert sorted(queued_ids()) == sorted(chunks)  # sent once, whatever the resumes after
