"""Resuming sweeps re-sends only what the broker lost: a chunk with sets to do that is neither
queued nor running; a sweep whose chunks are all present gets nothing."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from project.kernel.locks import LockPurpose, lock_key, lock_try
from strategies.sweeps.messages import chunk_task_id
from strategies.sweeps.models import SweepSet
from strategies.sweeps.services import sweep_create, sweeps_resume
from tasks.scheduling.leader import connection_kwargs
from tests.factories import MarketFactory, UserFactory
from tests.sweeps.helpers import queue_clear, queued_drop, queued_ids, sweep_data

pytestmark = pytest.mark.django_db(transaction=True)  # the chunks are sent after the commit


@pytest.fixture(autouse=True)
def empty_queue() -> Iterator[None]:
    queue_clear()
    yield
    queue_clear()


def test_a_sweep_whose_chunks_are_all_queued_gets_nothing() -> None:
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(MarketFactory(), hours=200))
    sent = queued_ids()

    resumed = sweeps_resume()

    assert sent == [chunk_task_id(sweep.pk, chunk) for chunk in range(5)]
    assert resumed == []
    assert queued_ids() == sent


def test_a_chunk_the_broker_lost_is_sent_again_and_a_running_one_is_not() -> None:
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(MarketFactory(), hours=200))
    lost, running = chunk_task_id(sweep.pk, 2), chunk_task_id(sweep.pk, 3)
    first_row = SweepSet.objects.filter(sweep=sweep, chunk=3).order_by("id").first()
    dropped = queued_drop(lost) + queued_drop(running)

    with psycopg.connect(autocommit=True, **connection_kwargs()) as worker:
        assert lock_try(worker.cursor(), lock_key(LockPurpose.SWEEP_CHUNK, first_row.pk))
        resumed = sweeps_resume()
        again = sweeps_resume()

    assert dropped == 2
    assert resumed == [sweep.pk]
    assert again == []
    assert queued_ids() == [chunk_task_id(sweep.pk, chunk) for chunk in (0, 1, 4, 2)]
