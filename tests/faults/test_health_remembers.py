"""Health that remembers and always answers: ticks the broker lost degrade the public /health/
and stay listed after their strategy is stopped; during a PostgreSQL crash every health answer
is JSON, /health/detail/ included (its authentication reads the database first)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from project.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from strategies.models import Strategy
from tasks.health.ticks import check_ticks
from tasks.models import JobSchedule
from tests.api.helpers import client_for
from tests.factories import UserFactory
from tests.faults.helpers import (
    EVERY,
    FAULTS,
    database_back,
    holding_strategy,
    postgres_crash,
    redis_restart_empty,
    runs_after,
)
from tests.processes import start_beat, start_celery_worker, wait_for

pytestmark = FAULTS

GRACE = 3  # seconds: the misfire grace of the strategy's job


def test_ticks_the_broker_lost_degrade_public_health_and_stay_listed_once_stopped(
    redis_outage: EmbeddedRedis, client: Client
) -> None:
    strategy = holding_strategy()
    worker = start_celery_worker(concurrency=1)
    beat = start_beat(BEAT_REDELIVER_AFTER_SECONDS="2")
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        JobSchedule.objects.filter(periodic_task__name=strategy.job_id).update(
            misfire_grace_seconds=GRACE
        )
        before = client.get("/health/").json()
        worker.stop()
        time.sleep(2 * EVERY)
        redis_restart_empty(redis_outage)  # what was queued is gone
        # No worker: republished, never started, then skipped past its grace. Waited for, not
        # slept: on a slow machine a fixed sleep let the new worker run the republished copy.
        wait_for(lambda: lost_of(strategy), timeout=60, what="a tick of the strategy lost")
        worker = start_celery_worker(concurrency=1)
        runs_after(strategy, timezone.now(), count=1)
        after = client.get("/health/")
    finally:
        beat.stop()
        worker.stop()
    Strategy.objects.filter(pk=strategy.pk).update(is_active=False)
    stopped = client_for(UserFactory(is_staff=True)).get("/health/detail/").json()

    ticks = after.json()["checks"]["ticks_recent"]
    lost = lost_of(strategy)
    listed = stopped["detail"]["ticks"]["data"]["lost"]
    assert before["checks"]["ticks_recent"]["ok"] is True
    assert (after.status_code, after.json()["status"]) == (200, "degraded")
    assert ticks["ok"] is False
    assert ticks["data"]["lost"] >= 1
    assert lost
    assert all(item["status"] == "skipped" and item["republished"] >= 1 for item in lost)
    assert all("the broker lost it or no worker took it" in item["reason"] for item in lost)
    assert all(f"{GRACE}s misfire grace" in item["reason"] for item in lost)
    assert {item["scheduled_tick"] for item in lost} <= {item["scheduled_tick"] for item in listed}


def lost_of(strategy: Strategy) -> list[dict]:
    return [item for item in check_ticks().data["lost"] if item["job"] == strategy.job_id]


def test_every_health_answer_is_json_while_postgres_is_down(
    postgres_outage: EmbeddedPostgres, client: Client
) -> None:
    staff = client_for(UserFactory(is_staff=True))

    postgres_crash(postgres_outage)
    try:
        public = client.get("/health/")
        detail = staff.get("/health/detail/")
    finally:
        postgres_outage.resume()
        database_back()
    recovered = staff.get("/health/detail/")

    assert (public.status_code, public["Content-Type"]) == (503, "application/json")
    assert public.json()["status"] == "down"
    assert (detail.status_code, detail["Content-Type"]) == (503, "application/json")
    assert detail.json()["status"] == "down"
    assert detail.json()["checks"]["database"]["ok"] is False
    assert "no-cache" in detail["Cache-Control"]
    assert recovered.status_code in {200, 503}
    assert recovered.json()["checks"]["database"]["ok"] is True
