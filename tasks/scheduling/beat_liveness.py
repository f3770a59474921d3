"""Whether our beats fire the celery backend's jobs: the live beats (each stamps its own row
every tick), answered through the scheduler interface (`Scheduler.health`, `processes`)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.models import Q

from project.kernel.scheduling import SchedulerError
from tasks.heartbeat import beat_heartbeat_read
from tasks.models import JobSchedule
from tasks.selectors import live_beats


def beats_firing() -> str:
    """With jobs to fire, a beat must have ticked within BEAT_LIVE_SECONDS; raises
    SchedulerError with the reason when none does."""
    if not JobSchedule.objects.filter(Q(next_fire_at__isnull=False) | Q(stale=True)).exists():
        return "no job to fire"
    firing = [beat for beat in live_beats() if beat.firing]
    if not firing:
        last = beat_heartbeat_read()
        since = f", last heartbeat {time.time() - last:.0f}s ago" if last else ""
        raise SchedulerError(
            f"no live beat: none ticked within {settings.BEAT_LIVE_SECONDS}s; no job fires{since}"
        )
    return f"{len(firing)} live beat(s)"


def beats_described() -> list[dict[str, Any]]:
    """The live beats, as /health/detail/ lists them."""
    return [
        {
            "id": beat.id,
            "host": beat.host,
            "pid": beat.pid,
            "started_at": beat.started_at.isoformat(),
            "last_tick_at": beat.last_tick_at.isoformat(),
            "firing": beat.firing,
        }
        for beat in live_beats()
    ]
