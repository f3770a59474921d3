"""The lifecycle services keep exactly one job `strategy_<id>` per active strategy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, Scheduler
from strategies.models import Strategy
from strategies.reconcile import strategy_jobs_reconcile
from strategies.services import (
    EXECUTE_TASK,
    StrategyError,
    strategy_delete,
    strategy_pause,
    strategy_run_now,
    strategy_start,
    strategy_stop,
    strategy_update,
)
from tests.factories import StrategyFactory


def fail_after(service: Callable[..., object], strategy: Strategy) -> None:
    """A request that calls the service, then fails: its transaction rolls back."""
    with transaction.atomic():
        service(strategy=strategy)
        raise RuntimeError("the request failed after the service ran")


def strategy_job_ids(scheduler: Scheduler) -> list[str]:
    return [job.id for job in scheduler.get_jobs() if job.id.startswith("strategy_")]


def test_start_creates_the_one_job_of_the_strategy(use_backend: Scheduler) -> None:
    strategy = StrategyFactory(timeframe="15m")

    strategy_start(strategy=strategy)

    job = use_backend.get_job(strategy.job_id)
    assert (job.task, job.args, job.trigger) == (EXECUTE_TASK, (strategy.pk,), IntervalTrigger(900))
    assert job.enabled is True
    assert Strategy.objects.get(pk=strategy.pk).is_active is True
    assert strategy_job_ids(use_backend) == [strategy.job_id]


def test_starting_twice_keeps_one_job(use_backend: Scheduler) -> None:
    strategy = StrategyFactory()

    strategy_start(strategy=strategy)
    strategy_start(strategy=strategy)

    assert strategy_job_ids(use_backend) == [strategy.job_id]


def test_update_re_times_an_active_strategy(use_backend: Scheduler) -> None:
    strategy = strategy_start(strategy=StrategyFactory(timeframe="1h"))

    strategy_update(strategy=strategy, data={"interval_seconds": 60})
    interval = use_backend.get_job(strategy.job_id).trigger
    strategy_update(
        strategy=strategy, data={"crontab": "*/5 * * * *", "crontab_timezone": "Asia/Tokyo"}
    )
    crontab = use_backend.get_job(strategy.job_id).trigger

    assert interval == IntervalTrigger(60)
    assert crontab == CrontabTrigger.parse("*/5 * * * *", timezone="Asia/Tokyo")
    assert Strategy.objects.get(pk=strategy.pk).crontab == "*/5 * * * *"


def test_the_job_description_names_the_strategy_and_follows_a_rename_and_a_re_timing(
    use_backend: Scheduler,
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(name="BTC DCA", timeframe="1h"))
    started = use_backend.get_job(strategy.job_id).description

    strategy_update(strategy=strategy, data={"name": "BTC DCA 2", "interval_seconds": 60})

    market = strategy.market
    where = f"dca on {market.exchange.name} BTC/USD 1h, paper"
    owner = strategy.owner.username
    assert started == f"Strategy {strategy.pk} 'BTC DCA': {where}, every 3600s, owner {owner}"
    assert use_backend.get_job(strategy.job_id).description == (
        f"Strategy {strategy.pk} 'BTC DCA 2': {where}, every 60s, owner {owner}"
    )


def test_update_of_a_stopped_strategy_creates_no_job(use_backend: Scheduler) -> None:
    strategy = StrategyFactory(is_active=False)

    strategy_update(strategy=strategy, data={"interval_seconds": 120})

    assert Strategy.objects.get(pk=strategy.pk).interval_seconds == 120
    assert use_backend.get_job(strategy.job_id) is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"crontab": "99 * * * *"}, ValidationError),
        ({"interval_seconds": 5}, ValidationError),
        ({"is_active": True}, StrategyError),
    ],
)
def test_bad_updates_change_neither_strategy_nor_job(
    use_backend: Scheduler, data: dict[str, object], error: type[Exception]
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(timeframe="1h"))

    with pytest.raises(error):
        strategy_update(strategy=Strategy.objects.get(pk=strategy.pk), data=data)

    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.crontab, stored.interval_seconds) == ("", None)
    assert use_backend.get_job(strategy.job_id).trigger == IntervalTrigger(3600)


def test_stop_removes_the_job_and_start_brings_it_back(use_backend: Scheduler) -> None:
    strategy = strategy_start(strategy=StrategyFactory())

    strategy_stop(strategy=strategy)
    stopped_job = use_backend.get_job(strategy.job_id)
    strategy_start(strategy=strategy)

    assert stopped_job is None
    assert use_backend.get_job(strategy.job_id) is not None


def test_pause_stops_the_strategy_and_records_why(use_backend: Scheduler) -> None:
    strategy = strategy_start(strategy=StrategyFactory())

    strategy_pause(strategy=strategy, reason="BTC/USD was delisted")

    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.is_active, stored.paused_reason) == (False, "BTC/USD was delisted")
    assert use_backend.get_job(strategy.job_id) is None
    strategy_start(strategy=stored)
    assert Strategy.objects.get(pk=strategy.pk).paused_reason == ""


def test_delete_removes_strategy_and_job(use_backend: Scheduler) -> None:
    strategy = strategy_start(strategy=StrategyFactory())
    job_id = strategy.job_id

    strategy_delete(strategy=strategy)

    assert not Strategy.objects.filter(pk=strategy.pk).exists()
    assert use_backend.get_job(job_id) is None


def test_a_rolled_back_start_leaves_no_orphan_job(use_backend: Scheduler) -> None:
    strategy = StrategyFactory(is_active=False)

    with pytest.raises(RuntimeError):
        fail_after(strategy_start, strategy)

    assert use_backend.get_job(strategy.job_id) is None
    assert Strategy.objects.get(pk=strategy.pk).is_active is False


def test_a_rolled_back_stop_keeps_the_job(use_backend: Scheduler) -> None:
    strategy = strategy_start(strategy=StrategyFactory())

    with pytest.raises(RuntimeError):
        fail_after(strategy_stop, strategy)

    assert use_backend.get_job(strategy.job_id) is not None
    assert Strategy.objects.get(pk=strategy.pk).is_active is True


def test_a_rolled_back_savepoint_drops_only_its_own_job_change(use_backend: Scheduler) -> None:
    kept, dropped = StrategyFactory(), StrategyFactory()

    with transaction.atomic():
        strategy_start(strategy=kept)
        with pytest.raises(RuntimeError):
            fail_after(strategy_start, dropped)

    assert strategy_job_ids(use_backend) == [kept.job_id]


def test_a_committed_transaction_schedules_the_job(use_backend: Scheduler) -> None:
    strategy = StrategyFactory()

    with transaction.atomic():
        strategy_start(strategy=strategy)
        strategy_update(strategy=strategy, data={"interval_seconds": 30})

    assert use_backend.get_job(strategy.job_id).trigger == IntervalTrigger(30)


def test_run_now_needs_a_started_strategy(use_backend: Scheduler) -> None:
    strategy = StrategyFactory(is_active=False)

    with pytest.raises(StrategyError, match="start it first"):
        strategy_run_now(strategy=strategy)


def test_reconcile_creates_fixes_resumes_and_removes(use_backend: Scheduler) -> None:
    missing = StrategyFactory(is_active=True, timeframe="1h")
    drifted = strategy_start(strategy=StrategyFactory(timeframe="1h"))
    paused = strategy_start(strategy=StrategyFactory(timeframe="1h"))
    stopped = strategy_start(strategy=StrategyFactory())
    healthy = strategy_start(strategy=StrategyFactory())
    use_backend.update_job(drifted.job_id, trigger=IntervalTrigger(45))
    use_backend.pause_job(paused.job_id)
    Strategy.objects.filter(pk=stopped.pk).update(is_active=False)
    use_backend.add_job("strategy_999999", EXECUTE_TASK, IntervalTrigger(60), args=[999999])
    use_backend.add_job("not_a_strategy_job", "health_check", IntervalTrigger(60))

    result = strategy_jobs_reconcile(full=True)
    again = strategy_jobs_reconcile(full=True)

    assert result.created == [missing.job_id]
    assert sorted(result.updated) == sorted([drifted.job_id, paused.job_id])
    assert sorted(result.removed) == sorted([stopped.job_id, "strategy_999999"])
    assert result.desired == 4
    assert not again.changed
    assert strategy_job_ids(use_backend) == sorted(
        [missing.job_id, drifted.job_id, paused.job_id, healthy.job_id]
    )
    assert use_backend.get_job(drifted.job_id).trigger == IntervalTrigger(3600)
    assert use_backend.get_job("not_a_strategy_job") is not None


def test_sync_schedules_prints_what_it_changed(
    use_backend: Scheduler, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = StrategyFactory(is_active=True)

    call_command("sync_schedules")
    call_command("sync_schedules")

    out = capsys.readouterr().out
    assert f"created {strategy.job_id}" in out
    assert "no changes" in out
    assert out.count("Reloaded 1 active strategies") == 2
