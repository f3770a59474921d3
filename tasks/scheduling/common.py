"""What both backends share: argument checks, the first tick of a trigger, and when jobs are
overdue."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from project.kernel.scheduling import IntervalTrigger, SchedulerError, Trigger

# A job this much behind its tick means its scheduler does not fire (or does not keep up).
OVERDUE_AFTER = timedelta(minutes=2)


def json_arguments(
    args: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments as JSON values, or SchedulerError: a job must survive any restart."""
    if isinstance(args, str | bytes):
        raise SchedulerError("job args must be a list of values, not a string")
    plain_args, plain_kwargs = list(args), dict(kwargs or {})
    try:
        encoded = json.dumps([plain_args, plain_kwargs], allow_nan=False)
    except (TypeError, ValueError) as error:
        raise SchedulerError(f"job arguments must be JSON values: {error}") from None
    if json.loads(encoded) != [plain_args, plain_kwargs]:
        raise SchedulerError("job arguments must be JSON values (tuples, non-string keys?)")
    return plain_args, plain_kwargs


def first_tick_after(trigger: Trigger, moment: datetime) -> datetime:
    """The first tick strictly after `moment`; an interval never fires before its anchor."""
    if isinstance(trigger, IntervalTrigger) and moment < trigger.anchor:
        return trigger.anchor
    return trigger.next_tick(moment)


def latest_tick(trigger: IntervalTrigger, moment: datetime) -> datetime | None:
    """The last interval tick at or before `moment` (no early tolerance), None before the anchor."""
    if moment < trigger.anchor:
        return None
    return trigger.next_tick(moment) - trigger.every


def first_tick_from(trigger: Trigger, moment: datetime) -> datetime:
    """The first tick at or after `moment`."""
    return first_tick_after(trigger, moment - timedelta(microseconds=1))


def overdue_error(scheduler: str, overdue: int, example: str, hint: str) -> SchedulerError:
    """What a backend's health raises when `overdue` jobs are late by more than OVERDUE_AFTER."""
    return SchedulerError(
        f"{scheduler} is not firing jobs: {overdue} overdue by more than {OVERDUE_AFTER}, "
        f"e.g. {example} ({hint})"
    )
