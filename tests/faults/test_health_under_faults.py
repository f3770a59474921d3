"""Health that sees what a fault left behind: stuck runs, strategies that only skip or fail,
unconfirmed live orders, ticks fired but never run, missed ticks, and no live beat."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.test import Client
from django.utils import timezone

from project.kernel.locks import LockPurpose, lock_key
from strategies.models import Order, Strategy, StrategyRun
from tasks.health.runs import (
    check_failing_strategies,
    check_stuck_runs,
    check_unconfirmed_orders,
)
from tasks.health.ticks import check_ticks
from tasks.models import Firing
from tests.api.helpers import client_for
from tests.factories import MarketFactory, StrategyFactory, UserFactory
from tests.processes import database_url, start_beat, wait_for
from tests.strategies.helpers import add_candles, tick

Status = StrategyRun.Status
AGO = timedelta(minutes=5)


def stuck(strategy: Strategy, hours_ago: int = 3) -> StrategyRun:
    """A run left running minutes ago by a process that is gone (its lease is free)."""
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(hours_ago))
    StrategyRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - AGO)
    return run


def skipped(strategy: Strategy, hours_ago: int) -> None:
    StrategyRun.objects.create(
        strategy=strategy,
        scheduled_tick=tick(hours_ago),
        status=Status.SKIPPED,
        reason="the run for tick ... is still in progress",
    )


@pytest.mark.django_db
def test_four_stuck_strategies_are_seen_as_stuck_and_failing_by_the_detail() -> None:
    strategies = StrategyFactory.create_batch(4)
    for strategy in strategies:
        stuck(strategy)
        for hours_ago in (2, 1, 0):
            skipped(strategy, hours_ago)

    body = client_for(UserFactory(is_staff=True)).get("/health/detail/").json()

    detail = body["detail"]
    assert body["status"] == "degraded"
    assert detail["stuck_runs"]["ok"] is False
    assert {item["strategy"] for item in detail["stuck_runs"]["data"]} == {s.pk for s in strategies}
    assert {item["why"] for item in detail["stuck_runs"]["data"]} == {"no process holds it"}
    assert detail["failing_strategies"]["ok"] is False
    assert len(detail["failing_strategies"]["data"]) == 4


@pytest.mark.django_db
def test_a_run_whose_lease_a_live_process_holds_is_not_stuck() -> None:
    run = stuck(StrategyFactory())

    key = lock_key(LockPurpose.RUN_LEASE, run.pk)
    with psycopg.connect(database_url(), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", key)
        held = check_stuck_runs()
        # Released here: a closed connection's backend frees its locks a moment later.
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        free = check_stuck_runs()

    assert held.ok is True
    assert free.data[0]["run"] == run.pk


@pytest.mark.django_db
def test_a_strategy_with_one_success_among_its_recent_runs_is_not_failing() -> None:
    strategy = StrategyFactory()
    skipped(strategy, 2)
    skipped(strategy, 1)
    StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(0), status=Status.SUCCEEDED)

    assert check_failing_strategies().ok is True


@pytest.mark.django_db
def test_a_live_order_left_new_is_listed_as_unconfirmed() -> None:
    strategy = StrategyFactory(mode=Strategy.Mode.LIVE)
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(), status=Status.FAILED)
    order = Order.objects.create(
        strategy=strategy,
        run=run,
        mode=Strategy.Mode.LIVE,
        side=Order.Side.BUY,
        amount=Decimal(1),
        client_order_id="tw-unconfirmed",
    )
    fresh = check_unconfirmed_orders()
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - AGO)

    old = check_unconfirmed_orders()

    assert fresh.ok is True
    assert old.ok is False
    assert old.data[0]["client_order_id"] == "tw-unconfirmed"


def firing(strategy: Strategy, at: timedelta, **fields: object) -> Firing:
    tick_at = (timezone.now() - at).replace(microsecond=0)
    return Firing.objects.create(
        job_name=strategy.job_id,
        periodic_task_id=0,
        scheduled_tick=tick_at,
        task="execute_single_strategy",
        celery_task_id=f"{strategy.job_id}@{tick_at.isoformat()}",
        created_at=tick_at,
        published_at=tick_at,
        **{"status": "published", **fields},
    )


def started(fired: Firing) -> Firing:
    """The firing as the worker's edge leaves it when its task ran."""
    Firing.objects.filter(pk=fired.pk).update(
        task_started_at=fired.scheduled_tick, task_ended_at=fired.scheduled_tick
    )
    return fired


@pytest.mark.django_db
def test_a_tick_fired_but_never_run_and_a_coalesced_one_are_reported() -> None:
    strategy = StrategyFactory()
    ran = started(firing(strategy, timedelta(minutes=4)))
    StrategyRun.objects.create(
        strategy=strategy, scheduled_tick=ran.scheduled_tick, status=Status.SUCCEEDED
    )
    lost = firing(strategy, timedelta(minutes=3))
    started(firing(strategy, timedelta(minutes=2), trigger="catch_up", missed_ticks=5))
    StrategyRun.objects.create(
        strategy=strategy,
        scheduled_tick=timezone.now().replace(microsecond=0) - timedelta(minutes=2),
        status=Status.SUCCEEDED,
    )

    result = check_ticks()

    assert result.ok is False
    assert [item["scheduled_tick"] for item in result.data["lost"]] == [
        lost.scheduled_tick.isoformat()
    ]
    assert [item["missed_ticks"] for item in result.data["missed"]] == [5]
    assert "1 tick(s) fired but never run, 5 missed" in result.detail


@pytest.mark.faults
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_only_beat_killed_makes_health_degraded_within_30_seconds(client: Client) -> None:
    market = MarketFactory()
    add_candles(market, [100])
    StrategyFactory(market=market, kind="test_fixed", parameters={"action": "hold"})
    beat = start_beat()  # its start-up reconcile gives the strategy its job
    try:
        wait_for(
            lambda: client.get("/health/").json()["checks"]["scheduler"]["ok"],
            timeout=30,
            what="health to see the beat",
        )
        beat.kill(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(  # longer than the claim: the assert below says how long it took
            lambda: not client.get("/health/").json()["checks"]["scheduler"]["ok"],
            timeout=90,
            what="health to see the beat gone",
        )
        seen_after = time.monotonic() - killed
    finally:
        beat.stop()

    body = client.get("/health/").json()
    assert seen_after <= 30
    assert body["status"] == "degraded"
    assert "no live beat" in body["checks"]["scheduler"]["detail"]
