"""The set-based start-up reconcile of strategy jobs on django-celery-beat's tables."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from project.scheduling import CrontabTrigger, IntervalTrigger
from strategies.models import Strategy
from strategies.reconcile import strategy_jobs_reconcile
from tasks.scheduling.celery_backend import CeleryBeatScheduler
from tests.factories import ExchangeFactory, MarketFactory, StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_missing_job_is_created_on_the_strategys_trigger() -> None:
    hourly = StrategyFactory(timeframe="1h", interval_seconds=None)
    cron = StrategyFactory(crontab="30 2 * * *", crontab_timezone="Europe/Berlin")
    scheduler = CeleryBeatScheduler()

    result = strategy_jobs_reconcile(scheduler=scheduler)

    assert sorted(result.created) == sorted([hourly.job_id, cron.job_id])
    assert scheduler.get_job(hourly.job_id).trigger == IntervalTrigger(3600)
    assert scheduler.get_job(hourly.job_id).args == (hourly.pk,)
    assert scheduler.get_job(cron.job_id).trigger == CrontabTrigger.parse(
        "30 2 * * *", "Europe/Berlin"
    )


def test_a_drifted_or_paused_job_is_rewritten_and_enabled() -> None:
    strategy = StrategyFactory(interval_seconds=60)
    scheduler = CeleryBeatScheduler()
    scheduler.add_job(strategy.job_id, "other_task", IntervalTrigger(5), args=[0])
    scheduler.pause_job(strategy.job_id)

    result = strategy_jobs_reconcile(scheduler=scheduler)

    job = scheduler.get_job(strategy.job_id)
    assert result.updated == [strategy.job_id]
    assert (job.task, job.trigger, job.args, job.enabled) == (
        "execute_single_strategy",
        IntervalTrigger(60),
        (strategy.pk,),
        True,
    )


def test_jobs_are_described_by_their_strategy_and_a_rename_or_re_timing_rewrites_it() -> None:
    alice = UserFactory(username="alice")
    market = MarketFactory(exchange=ExchangeFactory(name="bitstamp"), base="BTC", quote="USDT")
    minutely = StrategyFactory(
        owner=alice, name="BTC DCA", market=market, timeframe="1m", interval_seconds=None
    )
    nightly = StrategyFactory(
        owner=alice,
        name="Nightly",
        market=market,
        crontab=" 30  2 * * * ",
        crontab_timezone="Europe/Berlin",
    )
    scheduler = CeleryBeatScheduler()
    strategy_jobs_reconcile(scheduler=scheduler)
    first = {job.id: job.description for job in scheduler.get_jobs()}
    Strategy.objects.filter(pk=minutely.pk).update(name="BTC DCA 2", interval_seconds=300)

    result = strategy_jobs_reconcile(scheduler=scheduler)

    assert first == {
        minutely.job_id: f"Strategy {minutely.pk} 'BTC DCA': dca on bitstamp BTC/USDT 1m, "
        "paper, every 60s, owner alice",
        nightly.job_id: f"Strategy {nightly.pk} 'Nightly': dca on bitstamp BTC/USDT 1h, "
        "paper, cron 30 2 * * * (Europe/Berlin), owner alice",
    }
    assert result.updated == [minutely.job_id]
    assert scheduler.get_job(minutely.job_id).description == (
        f"Strategy {minutely.pk} 'BTC DCA 2': dca on bitstamp BTC/USDT 1m, paper, every 300s, "
        "owner alice"
    )
    assert PeriodicTask.objects.get(name=nightly.job_id).description == first[nightly.job_id]


def test_jobs_of_stopped_or_deleted_strategies_go_and_other_jobs_stay() -> None:
    stopped = StrategyFactory(is_active=False)
    scheduler = CeleryBeatScheduler()
    scheduler.add_job(stopped.job_id, "execute_single_strategy", IntervalTrigger(60), [stopped.pk])
    scheduler.add_job("strategy_999999", "execute_single_strategy", IntervalTrigger(60), [999999])
    scheduler.add_job("health_check", "health_check", IntervalTrigger(3600))

    result = strategy_jobs_reconcile(scheduler=scheduler)

    assert sorted(result.removed) == sorted([stopped.job_id, "strategy_999999"])
    assert [job.id for job in scheduler.get_jobs()] == ["health_check"]


def test_a_second_reconcile_changes_nothing() -> None:
    StrategyFactory.create_batch(3)
    scheduler = CeleryBeatScheduler()
    strategy_jobs_reconcile(scheduler=scheduler)

    again = strategy_jobs_reconcile(scheduler=scheduler)

    assert not again.changed
    assert again.active == 3


def test_its_queries_do_not_grow_with_the_strategies() -> None:
    def queries_for(count: int) -> int:
        PeriodicTask.objects.all().delete()
        StrategyFactory.create_batch(count)
        with CaptureQueriesContext(connection) as captured:
            strategy_jobs_reconcile(scheduler=CeleryBeatScheduler())
        return len(captured)

    PeriodicTasks.update_changed()  # its first call creates the row: one query more
    few, many = queries_for(2), queries_for(40)

    assert few == many
    assert PeriodicTask.objects.filter(name__startswith="strategy_").count() == 42
    assert IntervalSchedule.objects.filter(every=3600).count() == 1
