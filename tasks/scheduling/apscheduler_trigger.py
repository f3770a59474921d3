"""The APScheduler trigger of the APScheduler backend: a project trigger's ticks, the same tick
math as the tasks and our beat. Stored jobs pickle it as plain values.

Jobs stored before it moved here name it `tasks.scheduling.apscheduler_backend.TickTrigger`;
that module imports it, so they load as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from project.kernel.scheduling import EARLY_TOLERANCE, CrontabTrigger, IntervalTrigger, Trigger
from tasks.scheduling.common import first_tick_after, first_tick_from, latest_tick


class TickTrigger(BaseTrigger):
    """An APScheduler trigger on a project trigger's ticks: the same tick math as the tasks.

    Pickled as plain values, so a stored job does not depend on APScheduler's trigger classes.
    """

    def __init__(self, trigger: Trigger) -> None:
        self.trigger = trigger

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return first_tick_from(self.trigger, now)
        following = first_tick_after(self.trigger, previous_fire_time)
        if following > now:
            return following
        # Several ticks were missed: jump to the latest (runs coalesce into one anyway).
        return max(following, _latest_tick(self.trigger, now))

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "trigger": encode_trigger(self.trigger)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.trigger = decode_trigger(state["trigger"])

    def __str__(self) -> str:
        return self.trigger.describe()

    def __repr__(self) -> str:
        return f"<TickTrigger {self.trigger.describe()}>"


def _latest_tick(trigger: Trigger, now: datetime) -> datetime:
    if isinstance(trigger, IntervalTrigger):
        return latest_tick(trigger, now) or trigger.anchor
    return trigger.tick_at(now - EARLY_TOLERANCE)


def encode_trigger(trigger: Trigger) -> dict[str, Any]:
    if isinstance(trigger, IntervalTrigger):
        return {"interval": trigger.seconds, "anchor": trigger.anchor.isoformat()}
    return {"crontab": trigger.expression, "timezone": trigger.timezone}


def decode_trigger(data: Mapping[str, Any]) -> Trigger:
    if "interval" in data:
        return IntervalTrigger(data["interval"], datetime.fromisoformat(data["anchor"]))
    return CrontabTrigger.parse(data["crontab"], data["timezone"])
