"""GET /api/jobs/: read-only jobs with their latest lateness; each job's firings with timing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from strategies.services import strategy_start
from tests.api.helpers import client_for
from tests.factories import StrategyFactory
from tests.scheduling.firings import TICK, firing, job, run_started, strategy_job

pytestmark = pytest.mark.django_db


def test_jobs_need_a_login() -> None:
    assert APIClient().get("/api/jobs/").status_code == 401


def test_staff_see_every_job_with_its_latest_lateness(staff_user: AbstractUser) -> None:
    strategy = StrategyFactory()
    task = strategy_job(strategy)
    job("tickwork.cleanup")
    firing(task, TICK - timedelta(minutes=1), late=3.0)
    firing(task, TICK, late=0.2)
    run_started(strategy, TICK, late=0.9)

    jobs = client_for(staff_user).get("/api/jobs/").json()["results"]

    by_name = {row["name"]: row for row in jobs}
    assert set(by_name) == {strategy.job_id, "tickwork.cleanup"}
    mine = by_name[strategy.job_id]
    assert mine["last_fired_tick"] == "2026-12-01T12:00:00Z"
    assert mine["last_lateness_seconds"] == pytest.approx(0.2)
    assert mine["last_start_lateness_seconds"] == pytest.approx(0.9)
    assert mine["schedule"] == "every 60 seconds"
    assert by_name["tickwork.cleanup"]["last_lateness_seconds"] is None


def test_a_strategys_job_is_listed_with_the_description_naming_it(user: AbstractUser) -> None:
    strategy = strategy_start(strategy=StrategyFactory(owner=user, name="BTC DCA"))

    (row,) = client_for(user).get("/api/jobs/").json()["results"]

    assert row["name"] == strategy.job_id
    assert row["description"].startswith(f"Strategy {strategy.pk} 'BTC DCA': dca on ")
    assert row["description"].endswith(f", paper, every 3600s, owner {user.username}")


def test_a_user_sees_only_the_jobs_of_their_strategies(
    user: AbstractUser, other_user: AbstractUser
) -> None:
    mine = StrategyFactory(owner=user)
    strategy_job(mine)
    strategy_job(StrategyFactory(owner=other_user))
    system = job("tickwork.cleanup")

    names = [row["name"] for row in client_for(user).get("/api/jobs/").json()["results"]]
    hidden = client_for(user).get(f"/api/jobs/{system.pk}/")

    assert names == [mine.job_id]
    assert hidden.status_code == 404


def test_a_jobs_firings_list_their_tick_publication_and_run_start(
    staff_user: AbstractUser,
) -> None:
    strategy = StrategyFactory()
    task = strategy_job(strategy)
    firing(task, TICK, late=0.5)
    firing(task, TICK + timedelta(minutes=1), late=None, status="pending")
    run_started(strategy, TICK, late=2.0)

    response = client_for(staff_user).get(f"/api/jobs/{task.pk}/firings/")

    rows = response.json()["results"]
    assert response.status_code == 200
    assert [row["status"] for row in rows] == ["pending", "published"]
    assert rows[0]["published_at"] is None
    assert rows[0]["lateness_seconds"] is None
    assert rows[1]["scheduled_tick"] == "2026-12-01T12:00:00Z"
    assert rows[1]["published_at"] == "2026-12-01T12:00:00.500000Z"
    assert rows[1]["lateness_seconds"] == pytest.approx(0.5)
    assert rows[1]["run_started_at"] == "2026-12-01T12:00:02Z"
    assert rows[1]["start_lateness_seconds"] == pytest.approx(2.0)


def test_jobs_cannot_be_written_through_the_api(staff_user: AbstractUser) -> None:
    task = job("job_a")

    response = client_for(staff_user).delete(f"/api/jobs/{task.pk}/")

    assert response.status_code == 405
