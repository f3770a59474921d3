"""The beat's admin: firings read-only with their timing, each job's latest lateness."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from tasks.models import Firing, JobSchedule
from tests.factories import StrategyFactory
from tests.scheduling.firings import TICK, firing, job, run_started, strategy_job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


def test_firing_list_shows_publish_and_run_start_lateness(admin_client: Client) -> None:
    strategy = StrategyFactory()
    firing(strategy_job(strategy), TICK, late=0.25)
    run_started(strategy, TICK, late=1.5)

    page = admin_client.get("/admin/tasks/firing/").content.decode()

    assert f"{strategy.job_id}@" in page
    assert "0.250 s" in page
    assert "1.500 s" in page
    assert "succeeded" in page


def test_a_system_job_firing_has_no_run_and_says_so(admin_client: Client) -> None:
    firing(job("tickwork.cleanup"), TICK, late=0.5)

    page = admin_client.get("/admin/tasks/firing/").content.decode()

    assert "0.500 s" in page
    assert "tickwork.cleanup@" in page


def test_firings_cannot_be_added_changed_or_deleted_in_the_admin(admin_client: Client) -> None:
    made = firing(job("job_a"), TICK)

    add = admin_client.get("/admin/tasks/firing/add/")
    delete = admin_client.post(f"/admin/tasks/firing/{made.pk}/delete/", {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Firing.objects.filter(pk=made.pk).exists()


def test_schedule_list_shows_each_jobs_latest_lateness(admin_client: Client) -> None:
    strategy = StrategyFactory()
    task = strategy_job(strategy)
    firing(task, TICK - timedelta(minutes=1), late=9.0)
    firing(task, TICK, late=0.125)
    run_started(strategy, TICK, late=0.75)

    page = admin_client.get("/admin/tasks/jobschedule/").content.decode()

    assert strategy.job_id in page
    assert "0.125 s" in page
    assert "0.750 s" in page
    assert "9.000 s" not in page


def test_the_misfire_policy_is_set_in_the_schedule_admin(admin_client: Client) -> None:
    task = job("job_a")

    response = admin_client.post(
        f"/admin/tasks/jobschedule/{task.pk}/change/",
        {"misfire_policy": "skip", "misfire_grace_seconds": "30"},
    )

    schedule = JobSchedule.objects.get(pk=task.pk)
    assert response.status_code == 302
    assert (schedule.misfire_policy, schedule.misfire_grace_seconds) == ("skip", 30)
