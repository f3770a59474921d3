"""How backtests and sweeps give way to live work on the machine and the database they share.

`nice` (and SCHED_IDLE, `tasks/background.py`) lowers only the worker's own CPU priority; its
PostgreSQL statements run at the server's one priority, beside a strategy tick's. So the long
work also: pauses while live tasks wait in the broker (`give_way`), spaces its progress and
result writes (`Every`), and commits without waiting for the WAL flush (`background_session`:
safe because every write it makes is repeated by a redelivery or a resume).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)
STEP_S = 0.05
# A queue whose length has not moved this long has no consumer here: not live work in flight.
STALE_S = 1.0
# The live tasks taken last are still running when their queue empties: a little longer.
LINGER_S = 0.3


class Every:
    """Says yes at most once per `seconds` (always with 0): the first ask always says yes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: float | None = None

    def due(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.seconds:
            return False
        self._last = now
        return True


class _Broker:
    """This process's Redis client for queue lengths (made after a pool process forked), and
    the last length seen and when it last moved."""

    pid: int | None = None
    client: redis.Redis | None = None
    length: int = 0
    moved_at: float = 0.0

    @classmethod
    def waiting(cls) -> int:
        if cls.pid != os.getpid():
            cls.pid, cls.client = os.getpid(), redis.Redis.from_url(settings.CELERY_BROKER_URL)
        try:
            pipe = cls.client.pipeline(transaction=False)
            for queue in settings.BACKTEST_YIELD_QUEUES:
                pipe.llen(queue)
            return sum(pipe.execute())
        except redis.RedisError as error:
            logger.warning("queue lengths not read (%s); not pausing", error)
            return 0


def live_waiting() -> bool:
    """Whether live tasks wait in their queues and are being taken (a length that moved within
    STALE_S): a queue no worker drains, as in a test without a strategy worker, is no reason."""
    now = time.monotonic()
    length = _Broker.waiting()
    if length != _Broker.length:
        _Broker.length, _Broker.moved_at = length, now
    return length > 0 and now - _Broker.moved_at < STALE_S


def give_way() -> float:
    """Pause while live tasks wait (a tick's burst) and LINGER_S after the last was taken (it
    still runs), at most BACKTEST_YIELD_SECONDS in all (0: never); the seconds paused. Called
    between a backtest's steps and a sweep's sets."""
    limit = settings.BACKTEST_YIELD_SECONDS
    if limit <= 0:
        return 0.0
    started = time.monotonic()
    if not live_waiting():
        return 0.0
    quiet_since: float | None = None
    while time.monotonic() - started < limit:
        time.sleep(STEP_S)
        if live_waiting():
            quiet_since = None
            continue
        quiet_since = quiet_since or time.monotonic()
        if time.monotonic() - quiet_since >= LINGER_S:
            break
    return time.monotonic() - started


@contextmanager
def background_session() -> Iterator[None]:
    """This connection commits without waiting for the WAL flush while inside (with
    BACKTEST_SYNCHRONOUS_COMMIT off): a crash of the server may lose its last fraction of a
    second of commits, which only progress and sweep results use: both are written again by
    a redelivered chunk or `sweeps_resume`. Never around a write nothing would repeat."""
    if settings.BACKTEST_SYNCHRONOUS_COMMIT:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        _reset()


def _reset() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    except DatabaseError as error:  # a broken connection is closed, its setting with it
        logger.warning("synchronous_commit not reset: %s", error)
