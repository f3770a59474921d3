"""One beat scheduler in its own process, driven like `celery beat` and probed for bench/beat.py.

    python bench/_beat_child.py KIND

The parent sets the environment (database, broker) and reads one JSON line per event on
stdout. The child constructs the scheduler and ticks it once (start-up), times idle ticks,
then loops as `celery.beat.Service` does (tick, sleep what the tick returned) until told to
stop, answering between ticks the commands the parent writes on stdin:
`{"watch": NAME, "seconds": S}` reports when the running scheduler applies an edit of job
NAME to an interval of S seconds; `{"stop": true}` reports resident memory and exits.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# No worker takes the bench's messages: the beat must not publish them again as lost.
os.environ.setdefault("BEAT_REDELIVER_AFTER_SECONDS", "86400")

IDLE_TICKS = int(os.environ.get("BENCH_IDLE_TICKS", "10"))


def main() -> None:
    import django

    django.setup()
    kind = sys.argv[1]
    scheduler_class, probe = KINDS[kind]()
    from project.celery import app

    began = time.perf_counter()
    scheduler = scheduler_class(app=app)
    first = scheduler.tick()
    _say(
        event="ready",
        startup_s=time.perf_counter() - began,
        first_tick_returned=first,
        at=time.time(),
        **memory(),
    )
    idle = []
    for _ in range(IDLE_TICKS):
        began = time.perf_counter()
        scheduler.tick()
        idle.append(time.perf_counter() - began)
    _say(event="idle", ticks_s=idle, at=time.time())
    _serve(scheduler, probe)


def _serve(scheduler: Any, probe: Callable[[Any, str], float | None]) -> None:
    """Beat's service loop; the parent's commands are read while it sleeps, not by waking it."""
    commands = _Commands()
    watched: dict[str, Any] | None = None
    while True:
        interval = scheduler.tick()
        if watched is not None and probe(scheduler, watched["watch"]) == watched["seconds"]:
            _say(event="applied", name=watched["watch"], at=time.time())
            watched = None
        wake = time.monotonic() + (interval if interval and interval > 0 else 0.0)
        while (command := commands.next(until=wake)) is not None:
            if command.get("stop"):
                _say(event="stopped", at=time.time(), **memory())
                return
            watched = command
            _say(event="watching", name=command["watch"], at=time.time())


class _Commands:
    """JSON lines from the parent on stdin, read without blocking past a deadline."""

    def __init__(self) -> None:
        self._buffer = b""

    def next(self, until: float) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([0], [], [], max(0.0, until - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(0, 4096)
            if not chunk:  # the parent is gone: stop as if told to
                return {"stop": True}
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)


def memory() -> dict[str, float]:
    """Resident memory now and at its peak, from the kernel's own account of this process."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


def _say(**event: Any) -> None:
    print(json.dumps(event), flush=True)


# --- The schedulers: how to build each one and how to see that it applied an edit ------------


def _stock() -> tuple[type, Callable[[Any, str], float | None]]:
    from django_celery_beat.schedulers import DatabaseScheduler

    def probe(scheduler: Any, name: str) -> float | None:
        # `_schedule`, not `schedule`: reading the property would itself reload.
        entry = (scheduler._schedule or {}).get(name)
        return entry.schedule.run_every.total_seconds() if entry is not None else None

    return DatabaseScheduler, probe


def _ours() -> tuple[type, Callable[[Any, str], float | None]]:
    from tasks.models import JobSchedule
    from tasks.scheduling.beat import TickScheduler

    def probe(scheduler: Any, name: str) -> float | None:
        # Ours holds no schedule in memory: an edit is applied once a beat has re-planned the
        # job's next fire time from its new schedule (the edit's trigger marked it stale).
        planned = JobSchedule.objects.filter(
            periodic_task__name=name, stale=False, next_fire_at__isnull=False
        ).values_list("periodic_task__interval__every", flat=True)
        return next(iter(planned), None)

    return TickScheduler, probe


KINDS: dict[str, Callable[[], tuple[type, Callable[[Any, str], float | None]]]] = {
    "stock": _stock,
    "ours": _ours,
}


if __name__ == "__main__":
    main()
