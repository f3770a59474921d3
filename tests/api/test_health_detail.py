"""/health/detail/ (staff): each check passing, then failing in turn; the health_check job."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.test.utils import override_settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from marketdata.models import Candle, Exchange, Watchlist
from project.kernel.scheduling import IntervalTrigger
from strategies.models import Strategy, StrategyRun
from tasks.health.report import health_detail_report
from tasks.health.runs import check_strategies
from tasks.health.scheduler import check_scheduler_processes
from tasks.heartbeat import beat_heartbeat_read, beat_heartbeat_write
from tasks.scheduling.celery_backend import CeleryBeatScheduler
from tasks.system import health_check
from tests.api.helpers import client_for
from tests.factories import MarketFactory, StrategyFactory, UserFactory
from tests.processes import ManagedProcess, start_process, wait_for

if TYPE_CHECKING:
    from rest_framework.test import APIClient

DETAIL_CHECKS = {"workers", "scheduler_processes", "exchanges", "candles", "strategies"}
# The checks of what faults leave behind (tests/faults/test_health_under_faults.py).
DETAIL_CHECKS |= {"stuck_runs", "failing_strategies", "unconfirmed_orders", "ticks"}


def healthy_world() -> Strategy:
    """An exchange just reached, a fresh watched series, a strategy that ran on its last tick."""
    now = timezone.now()
    market = MarketFactory(exchange__name="sim")
    Exchange.objects.filter(pk=market.exchange_id).update(last_success_at=now)
    Watchlist.objects.create(market=market, timeframe="1m")
    Candle.objects.create(
        market=market,
        timeframe="1m",
        open_time=now.replace(second=0, microsecond=0),
        **dict.fromkeys(("open", "high", "low", "close", "volume"), Decimal(1)),
    )
    strategy = StrategyFactory(market=market, is_active=True, interval_seconds=60)
    StrategyRun.objects.create(strategy=strategy, scheduled_tick=strategy.trigger.tick_at(now))
    CeleryBeatScheduler().add_job("job_a", "health_check", IntervalTrigger(60))  # to fire
    beat_heartbeat_write()
    return strategy


def fail_exchanges(strategy: Strategy) -> None:
    Exchange.objects.update(last_error_at=timezone.now(), last_error="ExchangeNotAvailable: 503")


def fail_candles(strategy: Strategy) -> None:
    Candle.objects.update(open_time=timezone.now() - timedelta(hours=1))


def fail_strategies(strategy: Strategy) -> None:
    StrategyRun.objects.update(scheduled_tick=timezone.now() - timedelta(minutes=10))


def fail_beat(strategy: Strategy) -> None:
    beat_heartbeat_write(now=time.time() - 180)


FAILURES: dict[str, Callable[[Strategy], None]] = {
    "exchanges": fail_exchanges,
    "candles": fail_candles,
    "strategies": fail_strategies,
    "scheduler_processes": fail_beat,
    "workers": lambda strategy: None,  # a broker database no worker listens on, below
}


@pytest.fixture
def staff_api(db: None) -> APIClient:
    return client_for(UserFactory(is_staff=True))


@pytest.mark.django_db
def test_detail_is_for_staff_only(staff_api: APIClient) -> None:
    from rest_framework.test import APIClient

    anonymous = APIClient().get("/health/detail/")
    user = client_for(UserFactory()).get("/health/detail/")
    staff = staff_api.get("/health/detail/")

    assert anonymous.status_code == 401
    assert user.status_code == 403
    assert staff.status_code == 200
    assert set(staff.json()["detail"]) == DETAIL_CHECKS
    assert "no-cache" in staff["Cache-Control"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_every_detail_check_passes_in_a_healthy_world(
    celery_worker: ManagedProcess, staff_api: APIClient
) -> None:
    healthy_world()

    body = staff_api.get("/health/detail/").json()

    failing = {name: c["detail"] for name, c in body["detail"].items() if not c["ok"]}
    assert failing == {}
    assert body["status"] == "ok"
    assert any(name.startswith("test-") for name in body["detail"]["workers"]["data"])
    assert body["detail"]["exchanges"]["data"][0]["name"] == "sim"
    assert body["detail"]["candles"]["data"][0]["age_seconds"] < 120


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broken", sorted(FAILURES))
def test_each_failing_check_is_reported_alone_and_degrades(
    celery_worker: ManagedProcess, staff_api: APIClient, broken: str
) -> None:
    strategy = healthy_world()
    FAILURES[broken](strategy)
    broker = celery_worker_free_broker() if broken == "workers" else None

    with override_settings(**({"CELERY_BROKER_URL": broker} if broker else {})):
        body = staff_api.get("/health/detail/").json()

    failing = {name for name, check in body["detail"].items() if not check["ok"]}
    assert failing == {broken}
    assert body["status"] == "degraded"
    assert body["detail"][broken]["detail"]


def celery_worker_free_broker() -> str:
    """The test Redis, another database: reachable, but no worker consumes there."""
    from django.conf import settings

    return settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/15"


@pytest.mark.django_db
def test_unreachable_broker_fails_the_worker_check_quickly(staff_api: APIClient) -> None:
    started = time.monotonic()
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        body = staff_api.get("/health/detail/").json()

    assert body["detail"]["workers"]["ok"] is False
    assert "Error" in body["detail"]["workers"]["detail"]
    assert time.monotonic() - started < 30


@pytest.mark.django_db
def test_beat_without_heartbeat_is_reported_not_running() -> None:
    CeleryBeatScheduler().add_job("job_a", "health_check", IntervalTrigger(60))  # to fire

    result = check_scheduler_processes()

    assert result.ok is False
    assert "no live beat" in result.detail


@pytest.mark.django_db
def test_strategy_that_never_ran_is_overdue_two_intervals_after_activation() -> None:
    strategy = StrategyFactory(is_active=True, interval_seconds=60)
    Strategy.objects.filter(pk=strategy.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    StrategyFactory(is_active=True, interval_seconds=60)  # just activated: not yet due
    StrategyFactory(is_active=False, interval_seconds=60)

    result = check_strategies()

    assert result.ok is False
    assert [item["id"] for item in result.data] == [strategy.pk]
    assert result.data[0]["last_run_tick"] is None


@pytest.mark.django_db
def test_crontab_strategy_is_measured_by_its_own_rhythm() -> None:
    hourly = StrategyFactory(is_active=True, crontab="0 * * * *")
    now = timezone.now()
    StrategyRun.objects.create(
        strategy=hourly, scheduled_tick=hourly.trigger.tick_at(now - timedelta(hours=1))
    )

    assert check_strategies().ok is True  # one hour late at most: within two intervals


@pytest.mark.django_db
def test_report_logs_a_warning_for_each_failing_check(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    Exchange.objects.create(name="down", ccxt_id="bitstamp", last_error_at=timezone.now())

    with override_settings(CELERY_BROKER_URL=celery_worker_free_broker()):
        report = health_detail_report()

    failing = {name for name, check in report["detail"].items() if not check["ok"]}
    assert {"exchanges", "workers"} <= failing
    for name in failing:
        assert f"health check {name} failed" in caplog.text


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_health_check_job_records_the_detail_report(celery_worker: ManagedProcess) -> None:
    result = health_check.delay()

    report = result.get(timeout=60)

    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.task_name == "health_check"
    assert set(report["detail"]) == DETAIL_CHECKS
    assert report["detail"]["workers"]["ok"] is True
    assert '"detail"' in stored.result


@pytest.fixture
def beat() -> Iterator[ManagedProcess]:
    process = start_process(
        "beat", [sys.executable, "-m", "celery", "-A", "project", "beat", "--loglevel=INFO"]
    )
    yield process
    process.stop()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_beat_process_writes_the_heartbeat(beat: ManagedProcess) -> None:
    started = time.time()

    wait_for(
        lambda: (beat_heartbeat_read() or 0) >= started,
        60,
        "the beat's heartbeat",
        every=0.2,
        alive=[beat],
    )

    assert check_scheduler_processes().ok is True
