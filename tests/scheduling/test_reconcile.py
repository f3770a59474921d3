"""The start-up reconcile of strategy jobs: the strategies' desired set through `jobs_sync`, on
both backends."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, Scheduler
from strategies.models import Strategy
from strategies.reconcile import strategy_jobs_reconcile
from tests.factories import ExchangeFactory, MarketFactory, StrategyFactory, UserFactory


def test_a_missing_job_is_created_on_the_strategys_trigger(backend: Scheduler) -> None:
    hourly = StrategyFactory(timeframe="1h", interval_seconds=None)
    cron = StrategyFactory(crontab="30 2 * * *", crontab_timezone="Europe/Berlin")

    result = strategy_jobs_reconcile(scheduler=backend)

    assert sorted(result.created) == sorted([hourly.job_id, cron.job_id])
    assert backend.get_job(hourly.job_id).trigger == IntervalTrigger(3600)
    assert backend.get_job(hourly.job_id).args == (hourly.pk,)
    assert backend.get_job(cron.job_id).trigger == CrontabTrigger.parse(
        "30 2 * * *", "Europe/Berlin"
    )


def test_a_drifted_or_paused_job_is_rewritten_and_enabled(backend: Scheduler) -> None:
    strategy = StrategyFactory(interval_seconds=60)
    backend.add_job(strategy.job_id, "other_task", IntervalTrigger(5), args=[0])
    backend.pause_job(strategy.job_id)

    result = strategy_jobs_reconcile(scheduler=backend)

    job = backend.get_job(strategy.job_id)
    assert result.updated == [strategy.job_id]
    assert (job.task, job.trigger, job.args, job.enabled) == (
        "execute_single_strategy",
        IntervalTrigger(60),
        (strategy.pk,),
        True,
    )


def test_jobs_are_described_by_their_strategy_and_a_rename_or_re_timing_rewrites_it(
    backend: Scheduler,
) -> None:
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
    strategy_jobs_reconcile(scheduler=backend)
    first = {job.id: job.description for job in backend.get_jobs()}
    Strategy.objects.filter(pk=minutely.pk).update(
        name="BTC DCA 2", interval_seconds=300, updated_at=timezone.now()
    )

    result = strategy_jobs_reconcile(scheduler=backend)

    assert first == {
        minutely.job_id: f"Strategy {minutely.pk} 'BTC DCA': dca on bitstamp BTC/USDT 1m, "
        "paper, every 60s, owner alice",
        nightly.job_id: f"Strategy {nightly.pk} 'Nightly': dca on bitstamp BTC/USDT 1h, "
        "paper, cron 30 2 * * * (Europe/Berlin), owner alice",
    }
    assert result.updated == [minutely.job_id]
    assert backend.get_job(minutely.job_id).description == (
        f"Strategy {minutely.pk} 'BTC DCA 2': dca on bitstamp BTC/USDT 1m, paper, every 300s, "
        "owner alice"
    )
    assert backend.get_job(nightly.job_id).description == first[nightly.job_id]


def test_jobs_of_stopped_or_deleted_strategies_go_and_other_jobs_stay(
    backend: Scheduler,
) -> None:
    stopped = StrategyFactory(is_active=False)
    backend.add_job(stopped.job_id, "execute_single_strategy", IntervalTrigger(60), [stopped.pk])
    backend.add_job("strategy_999999", "execute_single_strategy", IntervalTrigger(60), [999999])
    backend.add_job("health_check", "health_check", IntervalTrigger(3600))

    result = strategy_jobs_reconcile(scheduler=backend)

    assert sorted(result.removed) == sorted([stopped.job_id, "strategy_999999"])
    assert [job.id for job in backend.get_jobs()] == ["health_check"]


def test_a_crontab_that_does_not_split_is_reported_and_its_job_kept(backend: Scheduler) -> None:
    broken = StrategyFactory(interval_seconds=60)
    backend.add_job(broken.job_id, "execute_single_strategy", IntervalTrigger(60), [broken.pk])
    Strategy.objects.filter(pk=broken.pk).update(crontab="30 2 * *")  # past the form's check

    result = strategy_jobs_reconcile(scheduler=backend, full=True)

    assert list(result.failed) == [broken.job_id]
    assert backend.get_job(broken.job_id).trigger == IntervalTrigger(60)


def test_a_second_reconcile_reads_only_what_was_saved_since_and_changes_nothing(
    backend: Scheduler,
) -> None:
    settled = StrategyFactory.create_batch(3)
    long_ago = timezone.now() - timedelta(days=1)
    Strategy.objects.filter(pk__in=[s.pk for s in settled]).update(updated_at=long_ago)
    first = strategy_jobs_reconcile(scheduler=backend)
    stopped = StrategyFactory(is_active=True)
    strategy_jobs_reconcile(scheduler=backend)
    Strategy.objects.filter(pk=stopped.pk).update(is_active=False, updated_at=timezone.now())

    again = strategy_jobs_reconcile(scheduler=backend)
    still = strategy_jobs_reconcile(scheduler=backend)

    assert (first.full, first.desired, len(first.created)) == (True, 3, 3)
    assert (again.full, again.desired, again.removed) == (False, 0, [stopped.job_id])
    assert (still.full, still.changed) == (False, False)


def test_a_full_sync_repairs_what_the_start_up_sync_does_not_read(backend: Scheduler) -> None:
    strategy = StrategyFactory(interval_seconds=60)
    strategy_jobs_reconcile(scheduler=backend)
    long_ago = timezone.now() - timedelta(days=1)
    # A write that bypasses the services and leaves updated_at as it was.
    Strategy.objects.filter(pk=strategy.pk).update(interval_seconds=120, updated_at=long_ago)

    start_up = strategy_jobs_reconcile(scheduler=backend)
    full = strategy_jobs_reconcile(scheduler=backend, full=True)

    assert not start_up.changed
    assert full.updated == [strategy.job_id]
    assert backend.get_job(strategy.job_id).trigger == IntervalTrigger(120)
