"""Backtests and sweeps give way to live work: they pause while live tasks are being taken from
their queue (not for a queue no worker drains), space their writes, and commit without waiting
for the WAL flush only inside their own session block."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.db import connection
from pytest_django.fixtures import Settings

from strategies.backtesting import yielding
from strategies.backtesting.yielding import Every, background_session, give_way

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_queue(settings: Settings) -> Iterator[tuple[redis.Redis, str]]:
    """A queue of this test's own as the live queue, a client on the broker, up to 3 s pauses."""
    name = f"live-{uuid.uuid4().hex[:8]}"
    settings.BACKTEST_YIELD_QUEUES = [name]
    settings.BACKTEST_YIELD_SECONDS = 3
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield client, name
    client.delete(name)
    client.close()


def test_a_backtest_pauses_while_live_tasks_are_taken_and_goes_on_once_they_are(
    live_queue: tuple[redis.Redis, str],
) -> None:
    client, name = live_queue
    client.rpush(name, *range(40))
    emptied: list[float] = []

    def drain() -> None:  # a live worker taking a task every 20 ms: about 0.8 s in all
        while client.lpop(name) is not None:
            time.sleep(0.02)
        emptied.append(time.monotonic())

    worker = threading.Thread(target=drain)
    worker.start()
    paused = give_way()
    returned = time.monotonic()
    worker.join()

    assert 0.5 < paused < 2.5
    # and a little longer than the queue was full: the task taken last still runs
    assert returned - emptied[0] >= yielding.LINGER_S - 0.1


def test_a_queue_no_worker_drains_holds_a_backtest_once_for_a_second_at_most(
    live_queue: tuple[redis.Redis, str],
) -> None:
    client, name = live_queue
    client.rpush(name, *range(5))

    first, second = give_way(), give_way()

    assert first < yielding.STALE_S + 0.5
    assert second < 0.1
    assert client.llen(name) == 5


def test_no_pause_when_the_yield_is_off_or_nothing_waits(
    live_queue: tuple[redis.Redis, str], settings: Settings
) -> None:
    client, name = live_queue

    idle = give_way()
    client.rpush(name, 1)
    settings.BACKTEST_YIELD_SECONDS = 0
    off = give_way()

    assert idle < 0.1
    assert off == 0.0


def test_every_says_yes_first_then_at_most_once_per_interval() -> None:
    spaced, always = Every(60), Every(0)

    answers = [spaced.due() for _ in range(3)]

    assert answers == [True, False, False]
    assert all(always.due() for _ in range(3))


def test_only_the_background_block_commits_without_waiting_for_the_flush(
    settings: Settings,
) -> None:
    def mode() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    before = mode()
    with background_session():
        inside = mode()
    after = mode()
    settings.BACKTEST_SYNCHRONOUS_COMMIT = True
    with background_session():
        kept = mode()

    assert (before, inside, after, kept) == ("on", "off", "on", "on")
    assert settings.BACKTEST_WRITE_SECONDS == 1  # the default spacing of progress and results
