"""The same /metrics assertions under both backends: the processes that fire the jobs (live
beats, or the APScheduler leader), their heartbeat and the jobs are what the configured backend
answers (`Scheduler.gauges`), so the view never asks which backend it is."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.test import Client

from project.kernel.scheduling import IntervalTrigger, Scheduler
from tasks.scheduling.beat import CLAIM_AHEAD
from tasks.scheduling.dispatch import schedules_plan
from tests.processes import wait_for
from tests.scheduling.fixtures import RunLog
from tests.scheduling.metrics import scrape
from tests.scheduling.tasks import RECORD_TASK

pytestmark = pytest.mark.usefixtures("metrics_token")

HEARTBEAT_AGE = "tickwork_scheduler_heartbeat_age_seconds"
NEXT_RUN = "tickwork_scheduler_next_run_timestamp_seconds"
LAST_RUN = "tickwork_scheduler_last_run_timestamp_seconds"


def planned(backend_name: str) -> None:
    """The next runs as the scheduler process has them: a beat's tick plans new rows first
    (APScheduler's store has them from the moment a job is added)."""
    if backend_name == "celery":
        schedules_plan()


def test_metrics_show_the_jobs_and_no_firing_process_when_none_fires(
    use_backend: Scheduler, backend_name: str, client: Client
) -> None:
    use_backend.add_job("job_a", "health_check", IntervalTrigger(600))
    use_backend.add_job("job_b", "health_check", IntervalTrigger(3600))
    use_backend.add_job("job_c", "health_check", IntervalTrigger(60))
    use_backend.pause_job("job_c")
    planned(backend_name)
    earliest = min(job.next_run_at for job in use_backend.get_jobs() if job.enabled)

    figures = scrape(client)

    assert figures[f"tickwork_scheduler_backend{{backend={backend_name}}}"] == 1
    assert figures["tickwork_scheduler_firing_processes"] == 0
    assert HEARTBEAT_AGE not in figures
    assert figures["tickwork_scheduler_jobs{state=enabled}"] == 2
    assert figures["tickwork_scheduler_jobs{state=paused}"] == 1
    assert figures[NEXT_RUN] == earliest.timestamp()
    assert LAST_RUN not in figures


@pytest.mark.usefixtures("a_process_that_fires_nothing")
def test_metrics_show_a_firing_process_and_its_heartbeat_ageing_when_it_beats_no_more(
    use_backend: Scheduler, client: Client
) -> None:
    use_backend.add_job("job_a", "health_check", IntervalTrigger(600))

    first = scrape(client)
    later = wait_for(
        lambda: (f := scrape(client))[HEARTBEAT_AGE] >= first[HEARTBEAT_AGE] + 1 and f,
        30,
        "the heartbeat to age by a second",
    )

    assert first["tickwork_scheduler_firing_processes"] == 1
    assert 0 <= first[HEARTBEAT_AGE] < 30
    assert later["tickwork_scheduler_firing_processes"] == 1  # present, though it beats no more


@pytest.mark.integration
def test_metrics_show_the_real_scheduler_process_with_a_fresh_heartbeat_and_its_runs(
    use_backend: Scheduler, scheduler_process: Callable[[], object], client: Client
) -> None:
    log = RunLog(f"metrics-{time.time_ns()}")
    trigger = IntervalTrigger(2)
    use_backend.add_job("job_a", RECORD_TASK, trigger, args=[log.label])

    scheduler_process()
    log.wait_for(2, timeout=60)
    figures = wait_for(
        lambda: LAST_RUN in (f := scrape(client)) and f, 30, "a last run in the metrics"
    )

    now = time.time()
    assert figures["tickwork_scheduler_firing_processes"] == 1
    assert 0 <= figures[HEARTBEAT_AGE] < 10
    # Our beat stamps a job's last run with the tick it claims, up to CLAIM_AHEAD early.
    assert now - 30 < figures[LAST_RUN] <= now + CLAIM_AHEAD.total_seconds()
    assert now - 5 < figures[NEXT_RUN] <= now + 2 * trigger.seconds
    assert figures["tickwork_beat_lateness_seconds_count"] >= 1  # its firings, timed
