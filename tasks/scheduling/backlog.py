"""Whether a broker queue holds messages that live workers are taking: a firing queued behind
them is late, not lost, and is not published again until the queue has been seen empty.

The redelivery deadline (BEAT_REDELIVER_AFTER_SECONDS, `outbox.firings_requeue_unstarted`)
tells a message the broker lost from one still waiting. A tick of 10,000 strategies takes
longer than that to drain on a busy but alive fleet, and its last units were published again,
for nothing. So the beat looks at the queue's length once a second (one LLEN, on its own Redis
client with short timeouts) and remembers when it was seen empty (runs of looks that found it
so) and whether it now holds messages that workers are taking (it got shorter since a look at
most one deadline, and at least 3 s, before; or a firing started as lately).

For a firing not yet started, the deadline then runs from the first look after its publish
that found the queue empty: by then the firing had left the queue, taken by a worker (which
starts it within moments) or lost (published again one deadline later). A firing published
while the queue was seen empty keeps the plain deadline. Until such a look, while workers are
taking messages, it waits; at the latest until its job's misfire grace less one deadline
after its publish. A queue that holds messages no one takes (no worker) holds nothing back:
its firings are published again on the plain deadline, as before. Without an answer from
Redis nothing is held.

Only the default queue is watched (where the outbox sends strategy firings); firings routed to
another queue keep the plain deadline.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import redis

logger = logging.getLogger(__name__)

# The firing's own `queue` for one sent to the default queue (the outbox leaves it empty).
DEFAULT = ""
TIMEOUT = 0.5  # seconds for Redis to answer a look
QUIET_AFTER_ERROR = 5.0  # seconds without looks after one found no answer
# Workers count as taking messages if a look at most this long before (or one deadline, if
# longer) found the queue shorter: looks are a second apart, and a unit takes a while.
LIVELY = timedelta(seconds=3)
RUNS_KEPT = 256  # runs of empty looks, about one a tick: hours of them, more than any grace


@dataclass(frozen=True)
class Held:
    """What `outbox.firings_requeue_unstarted` holds firings on `queues` back by: the runs of
    looks that found the queue empty (first and last look of each), and whether it holds
    messages now, which the looks saw workers take lately (the outbox also counts a firing
    started lately as a sign of them: a look right after a publish sees the queue grow)."""

    queues: tuple[str, ...] = ()
    empty_from: tuple[datetime, ...] = ()
    empty_until: tuple[datetime, ...] = ()
    busy: bool = False  # it holds messages
    holding: bool = False  # ... and the looks saw workers take some lately


class Backlog:
    """The beat's looks at its default queue."""

    def __init__(self, *, broker_url: str, queue: str, deadline: timedelta) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self.deadline = deadline
        self.depth: int | None = None  # at the last look; None: no answer
        self.taken_at: datetime | None = None  # the last look that found it shorter
        self.empty: deque[list[datetime]] = deque(maxlen=RUNS_KEPT)  # [first, last] look
        self._quiet_until = 0.0

    @cached_property
    def _client(self) -> redis.Redis | None:
        if not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            return None  # another broker: no lengths to read, nothing held
        return redis.Redis.from_url(
            self.broker_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
        )

    def look(self, *, now: datetime) -> None:
        """Read the queue's length and remember what it says; without an answer, hold nothing
        and do not ask again for a while (a beat waiting for a broker that is down would tick
        late)."""
        if self._client is None or time.monotonic() < self._quiet_until:
            return
        try:
            depth = int(self._client.llen(self.queue))
        except redis.RedisError as error:
            logger.info("queue length unknown (%s): no firing held back", error)
            self.depth, self._quiet_until = None, time.monotonic() + QUIET_AFTER_ERROR
            return
        self.seen(depth, now=now)

    def seen(self, depth: int, *, now: datetime) -> None:
        """What a look that found the queue `depth` long at `now` says."""
        if self.depth is not None and depth < self.depth:
            self.taken_at = now
        if depth == 0:
            if self.depth == 0 and self.empty:
                self.empty[-1][1] = now  # the run of empty looks goes on
            else:
                self.empty.append([now, now])
        self.depth = depth

    def held(self, *, now: datetime) -> Held:
        """What firings on the watched queue are held back by, as of the last look."""
        if self.depth is None:
            return Held()
        window = max(self.deadline, LIVELY)
        taken = self.taken_at is not None and now - self.taken_at <= window
        return Held(
            (DEFAULT, self.queue),
            tuple(first for first, _ in self.empty),
            tuple(last for _, last in self.empty),
            self.depth > 0,
            self.depth > 0 and taken,
        )
