"""How the APScheduler backend stores a job's parts in an APScheduler job, and what an update
will leave: the task and its arguments in `args`, the description in `name`, and a digest of
them all in the store's `spec` column."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from project.kernel.scheduling import JobRecord, Trigger
from tasks.scheduling.common import first_tick_from, json_arguments

# One-off jobs that run_job_now hands to the leader; they are not listed as jobs.
RUN_NOW_PREFIX = "__run_now__:"


def stored_job_changes(
    job: Any,
    task: str | None,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    description: str | None,
) -> dict[str, Any]:
    """A stored job's args and name with the given parts replaced (None keeps a part)."""
    old_task, old_args, old_kwargs = job.args
    new_task = old_task if task is None else task
    new_args, new_kwargs = json_arguments(
        old_args if args is None else args, old_kwargs if kwargs is None else kwargs
    )
    kept = stored_job_description(job.name, old_task) if description is None else description
    return {"args": [new_task, new_args, new_kwargs], "name": kept or new_task}


def stored_job_description(name: str, task: str) -> str:
    """A job's description is its APScheduler name; one without is named after its task
    (APScheduler refuses an empty name)."""
    return "" if name == task else name


def job_as_updated(
    current: JobRecord,
    *,
    task: str | None,
    trigger: Trigger | None,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    description: str | None,
) -> JobRecord:
    """The job as `update_job` will leave it: a paused job stays paused."""
    new_trigger = trigger or current.trigger
    return dataclasses.replace(
        current,
        task=task or current.task,
        description=current.description if description is None else description,
        trigger=new_trigger,
        args=current.args if args is None else tuple(args),
        kwargs=current.kwargs if kwargs is None else dict(kwargs),
        next_run_at=first_tick_from(new_trigger, datetime.now(UTC)) if current.enabled else None,
    )


def job_spec(
    task: str, args: Sequence[Any], kwargs: Mapping[str, Any], trigger: Trigger, description: str
) -> str:
    """A digest of what a job does and when: two jobs with the same one need no rewrite."""
    parts = [task, list(args), dict(kwargs), repr(trigger), description]
    text = json.dumps(parts, sort_keys=True).encode()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def job_spec_of(job: Any) -> str | None:
    """The digest of a stored job; None for one that is not a job of this interface (run-now)."""
    trigger = getattr(job.trigger, "trigger", None)
    if trigger is None or len(job.args) != 3:
        return None
    task, args, kwargs = job.args
    return job_spec(task, args, kwargs, trigger, stored_job_description(job.name, task))
