"""The job views show the configured backend's jobs, whichever it is: /api/jobs/ (next and last
runs, lateness, misses), each job's firings, the admin's job page and /metrics, after the real
scheduler process fired them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client
from rest_framework.test import APIClient

from project.kernel.scheduling import IntervalTrigger, Scheduler
from tasks.models import Firing, FiringStatus
from tests.factories import UserFactory
from tests.processes import wait_for
from tests.scheduling.fixtures import make_overdue
from tests.scheduling.tasks import RECORD_TASK

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_static_files")]

ADMIN_JOB_PAGE = {
    "celery": "/admin/tasks/jobschedule/",
    "apscheduler": "/admin/tasks/apschedulerjob/",
}


def staff_api() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True))
    return client


def job_row(job_id: str) -> Any:
    rows = staff_api().get("/api/jobs/").json()["results"]
    return next(row for row in rows if row["name"] == job_id)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_a_fired_job_is_listed_with_its_runs_lateness_and_firings(
    use_backend: Scheduler,
    backend_name: str,
    scheduler_process: Callable[[], object],
    run_log: Callable[[], Any],
) -> None:
    log = run_log()
    use_backend.add_job(
        "job_a", RECORD_TASK, IntervalTrigger(2), args=[log.label], description="two-second job"
    )
    scheduler_process()

    published = Firing.objects.filter(job_name="job_a", status=FiringStatus.PUBLISHED)
    wait_for(lambda: published.count() >= 2, 60, "two firings of job_a")
    # Our beat claims a tick ahead: the latest firing may not be published yet.
    row = wait_for(
        lambda: (row := job_row("job_a"))["last_lateness_seconds"] is not None and row,
        30,
        "a published latest firing",
    )
    missed = Firing.objects.filter(job_name="job_a").aggregate(n=Sum("missed_ticks"))["n"]
    firings = staff_api().get(f"/api/jobs/{row['id']}/firings/").json()["results"]
    page, scraped = admin_and_metrics(ADMIN_JOB_PAGE[backend_name])

    assert (row["description"], row["task"], row["enabled"]) == (
        "two-second job",
        RECORD_TASK,
        True,
    )
    assert row["next_fire_at"] is not None
    assert row["last_fired_tick"] is not None
    assert 0 <= row["last_lateness_seconds"] < 5
    # On a loaded machine a two-second job can miss a tick; the list counts what the rows hold.
    assert row["missed_ticks"] == missed
    assert [firing["status"] for firing in firings].count("published") >= 2
    assert "job_a" in page
    fired = 'tickwork_beat_firings_total{status="published",trigger="schedule"}'
    assert metric(scraped, fired) >= 2
    assert metric(scraped, "tickwork_beat_lateness_seconds_count") >= 2


def admin_and_metrics(admin_page: str) -> tuple[str, str]:
    """The admin's job page and a /metrics scrape, as a staff user sees them."""
    browser = Client()
    browser.force_login(UserFactory(is_staff=True, is_superuser=True))
    return (
        browser.get(admin_page).content.decode(),
        browser.get("/metrics").content.decode(),
    )


def test_ticks_missed_while_nothing_fired_are_coalesced_and_counted(
    use_backend: Scheduler,
    scheduler_process: Callable[[], object],
    run_log: Callable[[], Any],
) -> None:
    log = run_log()
    use_backend.add_job("job_a", RECORD_TASK, IntervalTrigger(60), args=[log.label])
    make_overdue(use_backend, "job_a", by=timedelta(minutes=10, seconds=1))

    scheduler_process()

    log.wait_for(1, timeout=60)
    firings = Firing.objects.filter(job_name="job_a")
    wait_for(lambda: firings.filter(missed_ticks__gt=0).exists(), 30, "a coalescing firing")
    assert 9 <= sum(firings.values_list("missed_ticks", flat=True)) <= 11
    assert 9 <= job_row("job_a")["missed_ticks"] <= 11
