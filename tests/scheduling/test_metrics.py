"""GET /metrics: refused without the token or staff; its figures are those of the rows."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks.metrics import TOTALS_KEY
from tasks.models import BeatInstance, Firing, FiringStatus, JobSchedule
from tests.factories import UserFactory
from tests.scheduling.firings import firing, job
from tests.scheduling.metrics import scrape

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("metrics_token")]


def test_metrics_without_credentials_are_refused_with_401(client: Client) -> None:
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_with_a_wrong_token_are_refused_with_401(client: Client) -> None:
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token-at-all-000")

    assert response.status_code == 401
    assert "invalid_token" in response["WWW-Authenticate"]


def test_metrics_refuse_any_token_when_none_is_configured(
    client: Client, settings: Settings
) -> None:
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 401


def test_metrics_refuse_a_user_who_is_not_staff_with_403(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.get("/metrics")

    assert response.status_code == 403


def test_metrics_answer_a_staff_session_in_prometheus_format(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]
    assert "tickwork_beat_firings_total" in response.content.decode()


def test_metrics_figures_match_the_firing_beat_and_schedule_rows(client: Client) -> None:
    a, b, c = job("job_a"), job("job_b"), job("job_c")
    now = timezone.now()
    firing(a, now - timedelta(minutes=10), late=0.03)
    firing(a, now - timedelta(minutes=9), late=0.2)
    firing(b, now - timedelta(minutes=9), late=2.0, trigger="catch_up", missed_ticks=4)
    firing(c, now - timedelta(minutes=8), late=None, status=FiringStatus.SKIPPED, missed_ticks=3)
    firing(c, now - timedelta(seconds=1), late=None, status=FiringStatus.PENDING)
    JobSchedule.objects.filter(periodic_task__in=[a, b]).update(
        next_fire_at=now - timedelta(seconds=5), stale=False
    )
    JobSchedule.objects.filter(periodic_task=c).update(
        next_fire_at=now + timedelta(hours=1), stale=False
    )
    for name, refused, last_tick in (("one", 2, now), ("gone", 5, now - timedelta(hours=1))):
        BeatInstance.objects.create(
            id=name, host="h", pid=1, started_at=last_tick, last_tick_at=last_tick,
            refused_duplicates=refused,
        )  # fmt: skip

    figures = scrape(client)

    assert figures["tickwork_beat_firings_total{status=published,trigger=schedule}"] == 2
    assert figures["tickwork_beat_firings_total{status=published,trigger=catch_up}"] == 1
    assert figures["tickwork_beat_firings_total{status=skipped,trigger=schedule}"] == 1
    assert figures["tickwork_beat_lateness_seconds_bucket{le=0.05}"] == 1
    assert figures["tickwork_beat_lateness_seconds_bucket{le=0.25}"] == 2
    assert figures["tickwork_beat_lateness_seconds_bucket{le=1.0}"] == 2
    assert figures["tickwork_beat_lateness_seconds_bucket{le=2.5}"] == 3
    assert figures["tickwork_beat_lateness_seconds_bucket{le=+Inf}"] == 3
    assert figures["tickwork_beat_lateness_seconds_count"] == 3
    assert figures["tickwork_beat_lateness_seconds_sum"] == pytest.approx(2.23)
    assert figures["tickwork_beat_missed_ticks_total"] == 7
    assert figures["tickwork_beat_refused_duplicates_total"] == 7
    assert figures["tickwork_beat_due_jobs"] == 2
    assert figures["tickwork_beat_pending_firings"] == 1
    assert figures["tickwork_beat_live_beats"] == 1


def test_counters_keep_their_totals_when_old_firings_are_deleted(client: Client) -> None:
    task = job("job_a")
    old = timezone.now() - timedelta(days=3)
    for minute in range(3):
        firing(task, old + timedelta(minutes=minute), late=0.5)
    before = scrape(client)

    Firing.objects.all().delete()  # what a retention round does
    firing(task, timezone.now(), late=0.04)  # a fresh one, not settled yet
    after = scrape(client)

    key = "tickwork_beat_firings_total{status=published,trigger=schedule}"
    assert before[key] == 3
    assert after[key] == 4
    assert after["tickwork_beat_lateness_seconds_bucket{le=0.05}"] == 1
    assert after["tickwork_beat_lateness_seconds_count"] == 4


def test_a_firing_counts_once_it_is_published_and_never_twice(client: Client) -> None:
    task = job("job_a")
    pending = firing(task, timezone.now() - timedelta(minutes=5), late=None, status="pending")
    key = "tickwork_beat_firings_total{status=published,trigger=schedule}"
    first = scrape(client)

    Firing.objects.filter(pk=pending.pk).update(
        status=FiringStatus.PUBLISHED, published_at=pending.scheduled_tick + timedelta(seconds=1)
    )
    second, third = scrape(client), scrape(client)

    assert key not in first
    assert first["tickwork_beat_pending_firings"] == 1
    assert second[key] == 1
    assert third[key] == 1


def test_a_scrape_costs_the_same_queries_whatever_the_firing_history(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    task = job("job_a")
    old = timezone.now() - timedelta(days=1)

    def scrape_queries(firings: int) -> int:
        made = Firing.objects.count()
        for minute in range(made, made + firings):
            firing(task, old + timedelta(minutes=minute))
        cache.delete(TOTALS_KEY)
        with CaptureQueriesContext(connection) as queries:
            scrape(client)
        return len(queries)

    few, many = scrape_queries(3), scrape_queries(300)

    assert few == many
    with django_assert_max_num_queries(few):
        scrape(client)
