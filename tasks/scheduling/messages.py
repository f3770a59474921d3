"""What a firing sends: its Celery task id, derived from (job, tick), and the tick kwargs."""

from __future__ import annotations

import functools
import inspect
import uuid
from datetime import UTC, datetime
from typing import Any

from celery import current_app

from tasks.scheduling.ticks import SCHEDULE


def tick_text(tick: datetime) -> str:
    """A tick in UTC as ISO 8601 with `Z`: `2026-12-01T12:00:00Z`."""
    text = tick.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def firing_task_id(job_name: str, tick: datetime) -> str:
    """The Celery task id of a firing, readable in Flower: `strategy_42@2026-12-01T12:00:00Z`.

    Derived from the key the firing row is unique on, so a message published twice (by the
    outbox after a crash) carries the same id both times.
    """
    return f"{job_name}@{tick_text(tick)}"


def is_firing_task_id(task_id: str) -> bool:
    """Whether a task id can be a firing's (`job@<tick>Z`), not a run-now's (`job@now-<uuid>`)
    or Celery's own uuid: the worker's edge looks up only these."""
    job, _, tick = task_id.rpartition("@")
    return bool(job) and tick.endswith("Z") and not tick.startswith("now-")


def run_now_task_id(job_name: str) -> str:
    """The Celery task id of a run-now, readable in Flower: `strategy_42@now-<uuid>`.

    Unique per call: each run-now is a decision of its own, keyed by its own tick.
    """
    return f"{job_name}@now-{uuid.uuid4()}"


def firing_kwargs(
    task: str, kwargs: dict[str, Any], tick: datetime, trigger: str
) -> dict[str, Any]:
    """The job's kwargs plus `scheduled_tick` and a catch-up's `trigger`, where the task has them.

    A task that does not name the parameter never gets it, so a task signature that predates
    it is never broken; a job's own kwargs win.
    """
    extra: dict[str, Any] = {}
    if _accepts(task, "scheduled_tick"):
        extra["scheduled_tick"] = tick.astimezone(UTC).isoformat()
    if trigger != SCHEDULE and _accepts(task, "trigger"):
        extra["trigger"] = trigger
    return {**extra, **kwargs}


def _accepts(task: str, parameter: str) -> bool:
    """Whether the task registered under `task` in this process names `parameter`.

    Beat imports the task modules (CELERY_IMPORTS) before it fires; a task not registered
    (yet) gets nothing, and is looked at again next time.
    """
    registered = current_app.tasks.get(task)
    if registered is None:
        return False
    return parameter in _parameters(registered.run)


@functools.cache
def _parameters(run: Any) -> frozenset[str]:
    return frozenset(inspect.signature(run).parameters)
