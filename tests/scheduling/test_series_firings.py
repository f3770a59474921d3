"""A series message's firings: each strategy's own firing started and ended by the series task,
by the edge's rule; a copy does not run, one whose earlier tick has not ended waits on its own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from strategies.models import Strategy
from tasks.models import Firing
from tasks.scheduling.series_firings import (
    firings_start,
    series_firings_finish,
    series_firings_start,
    strategy_firing_task_id,
)
from tasks.scheduling.starts import Start, firing_start
from tests.factories import StrategyFactory

# The leases are session locks: the rows they guard must be committed for other sessions.
pytestmark = pytest.mark.django_db(transaction=True)


def fired(strategy: Strategy, tick: datetime, **fields: object) -> Firing:
    return Firing.objects.create(
        job_name=strategy.job_id,
        periodic_task_id=strategy.pk,
        scheduled_tick=tick,
        task="execute_single_strategy",
        celery_task_id=strategy_firing_task_id(strategy.pk, tick),
        created_at=tick,
        status="published",
        published_at=tick,
        **fields,
    )


def test_each_firing_of_a_series_is_started_once_and_ended_and_a_later_tick_waits() -> None:
    tick = timezone.now().replace(microsecond=0)
    fresh, waiting, copied = (StrategyFactory() for _ in range(3))
    firings = {s.pk: fired(s, tick) for s in (fresh, waiting, copied)}
    fired(waiting, tick - timedelta(seconds=10))  # its earlier tick has not ended
    Firing.objects.filter(pk=firings[copied.pk].pk).update(task_ended_at=tick)  # ran already
    unfired = StrategyFactory()  # a message sent by hand: no firing, it runs

    started = series_firings_start(
        strategy_ids=[fresh.pk, waiting.pk, copied.pk, unfired.pk], tick=tick
    )
    series_firings_finish(firing_ids=started.firings)

    assert started.run == [fresh.pk, unfired.pk]
    assert started.waiting == [waiting.pk]
    assert started.firings == [firings[fresh.pk].pk]
    ran = Firing.objects.get(pk=firings[fresh.pk].pk)
    assert ran.task_started_at is not None
    assert ran.task_ended_at is not None
    assert Firing.objects.get(pk=firings[waiting.pk].pk).task_started_at is None


def scenario(prefix: str, tick: datetime) -> list[str]:
    """One firing of each kind a delivery can meet; their task ids, in a fixed order."""
    rows = {
        "fresh": {},
        "resumed": {"task_started_at": tick},  # started; no process holds its lease
        "copy": {"task_started_at": tick, "task_ended_at": tick},
        "missed": {"status": "skipped"},
        "waits": {},
    }
    ids = []
    for kind, fields in rows.items():
        firing = Firing.objects.create(
            job_name=f"{prefix}-{kind}",
            periodic_task_id=1,
            scheduled_tick=tick,
            task="execute_single_strategy",
            celery_task_id=f"{prefix}-{kind}@{tick:%Y-%m-%dT%H:%M:%S}Z",
            created_at=tick,
            status=fields.pop("status", "published"),
            **fields,
        )
        ids.append(firing.celery_task_id)
    Firing.objects.create(
        job_name=f"{prefix}-waits",
        periodic_task_id=1,
        scheduled_tick=tick - timedelta(seconds=5),
        task="execute_single_strategy",
        celery_task_id=f"{prefix}-waits-earlier",
        created_at=tick,
        status="published",
    )
    return [*ids, f"{prefix}-unfired@{tick:%Y-%m-%dT%H:%M:%S}Z"]


def test_the_set_based_start_decides_as_firing_start_does_firing_by_firing() -> None:
    tick = timezone.now().replace(microsecond=0)
    batch_ids, single_ids = scenario("batch", tick), scenario("single", tick)

    batched = firings_start(task_ids=batch_ids)
    singles = [firing_start(task_id=task_id) for task_id in single_ids]

    assert [batched[task_id].start for task_id in batch_ids] == [s.start for s in singles]
    assert [s.start for s in singles] == [
        Start.STARTED,
        Start.RESUMED,
        Start.COPY,
        Start.MISSED,
        Start.WAIT,
        Start.NOT_A_FIRING,
    ]
    stamped = Firing.objects.filter(celery_task_id__in=batch_ids[:2])
    assert all(firing.task_started_at is not None for firing in stamped)
