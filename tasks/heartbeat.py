"""Each beat's heartbeat: its own row (id, host, pid, last tick), stamped on every tick."""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError
from django.db.models import F, Max

from tasks.models import BeatInstance

logger = logging.getLogger(__name__)


@dataclass
class ThisBeat:
    """This process as a beat: a fresh id per start, so a reused pid is never confused."""

    id: str
    host: str
    pid: int
    started_at: datetime

    def refused(self, count: int) -> None:
        """Count firings refused as duplicates on this beat's row."""
        BeatInstance.objects.filter(pk=self.id).update(
            refused_duplicates=F("refused_duplicates") + count
        )


@functools.cache
def this_beat() -> ThisBeat:
    host, pid = socket.gethostname(), os.getpid()
    return ThisBeat(f"{host}:{pid}:{uuid.uuid4().hex[:6]}", host, pid, datetime.now(UTC))


def beat_heartbeat_write(*, now: float | None = None, firing: bool = True) -> None:
    """Stamp this beat's row; a database hiccup must never stop beat, so it is logged."""
    beat = this_beat()
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    try:
        updated = BeatInstance.objects.filter(pk=beat.id).update(last_tick_at=at, firing=firing)
        if not updated:
            BeatInstance.objects.create(
                id=beat.id,
                host=beat.host,
                pid=beat.pid,
                started_at=beat.started_at,
                last_tick_at=at,
                firing=firing,
            )
    except DatabaseError as error:
        logger.warning("beat heartbeat not written: %s: %s", type(error).__name__, error)


def beat_heartbeat_read() -> float | None:
    """The Unix time of the latest tick of any beat, or None if no beat ever stamped one."""
    latest = BeatInstance.objects.aggregate(latest=Max("last_tick_at"))["latest"]
    return latest.timestamp() if latest else None
