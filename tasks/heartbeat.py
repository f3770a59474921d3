"""Beat's heartbeat: the beat process stamps the time in Redis on every tick of its loop."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "beat:heartbeat"
# Long enough to outlive any staleness threshold, short enough to vanish after beat is gone.
HEARTBEAT_TTL = 24 * 3600


def beat_heartbeat_write(*, now: float | None = None) -> None:
    """Stamp the time; a Redis hiccup must never stop beat, so it is logged and skipped."""
    try:
        cache.set(HEARTBEAT_KEY, time.time() if now is None else now, HEARTBEAT_TTL)
    except Exception as error:  # the cache is best effort here
        logger.warning("beat heartbeat not written: %s: %s", type(error).__name__, error)


def beat_heartbeat_read() -> float | None:
    """The Unix time of beat's last tick, or None if it never wrote one (or it expired)."""
    return cache.get(HEARTBEAT_KEY)


class HeartbeatSchedulerMixin:
    """Mix into any Celery beat scheduler: each tick of beat's loop writes the heartbeat.

    Beat calls `tick()` at least every `max_interval` seconds (5 s for django-celery-beat), so
    a heartbeat older than a couple of minutes means the loop is stuck or the process is gone.
    """

    def tick(self, *args: Any, **kwargs: Any) -> float:
        beat_heartbeat_write()
        return super().tick(*args, **kwargs)  # type: ignore[misc]
