"""A series message's firings: each strategy's own firing started and ended by the series task,
by the edge's rule; a copy does not run, one whose earlier tick has not ended waits on its own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from strategies.models import Strategy
from tasks.models import Firing
from tasks.scheduling.series_firings import (
    series_firings_finish,
    series_firings_start,
    strategy_firing_task_id,
)
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
