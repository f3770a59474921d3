"""The beat's time rules: a job's next fire time, and what to do with the ticks that are due."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from project.kernel.scheduling import EARLY_TOLERANCE, IntervalTrigger, Trigger
from tasks.models import MisfirePolicy
from tasks.scheduling.common import first_tick_after

SCHEDULE, CATCH_UP = "schedule", "catch_up"
# Crontab ticks missed are counted one by one; past this many the count stops (a year of
# minutes is 525,600): the job is coalesced or skipped all the same.
MAX_COUNTED_TICKS = 100_000


def next_fire_time(
    trigger: Trigger, *, changed_at: datetime, last_tick: datetime | None
) -> datetime:
    """The first tick after the later of the last change and the last tick fired.

    An edited or resumed job fires from its next tick: a tick that passed before the change
    never fires as a catch-up run. An interval's grid is anchored (`anchor + k * every`), so
    restarts and late runs never shift it.
    """
    since = changed_at if last_tick is None else max(changed_at, last_tick)
    return first_tick_after(trigger, since)


@dataclass(frozen=True)
class Fire:
    tick: datetime
    trigger: str
    missed_ticks: int = 0


@dataclass
class Decision:
    """For one due job: the firings to insert, a skip to record, and where the job goes next."""

    fires: list[Fire] = field(default_factory=list)
    skipped: Fire | None = None
    next_fire_at: datetime | None = None
    last_tick: datetime | None = None
    missed_ticks: int = 0


def decide(
    trigger: Trigger, *, due: datetime, now: datetime, grace: timedelta, policy: str
) -> Decision:
    """Fire every due tick that is at most `grace` late; the later-than-grace ones are missed.

    Missed ticks (no beat ran) are coalesced into one `catch_up` run of the latest of them,
    or skipped, by the job's policy; when an on-time tick follows them it stands in for them.
    """
    late_before = now - grace
    late, on_time = _split(trigger, due=due, late_before=late_before, now=now)
    decision = Decision(next_fire_at=first_tick_after(trigger, now))
    catch_up, decision.missed_ticks = late_ticks_fate(
        late=late.count, stand_in=bool(on_time), policy=policy
    )
    if on_time:
        decision.fires = [Fire(tick, SCHEDULE) for tick in on_time]
        if late.count:
            decision.fires[0] = Fire(on_time[0], SCHEDULE, missed_ticks=late.count)
        decision.last_tick = on_time[-1]
    elif late.latest is not None:
        if catch_up:
            decision.fires = [Fire(late.latest, CATCH_UP, missed_ticks=decision.missed_ticks)]
        else:
            decision.skipped = Fire(late.latest, SCHEDULE, missed_ticks=decision.missed_ticks)
        decision.last_tick = late.latest
    return decision


def decide_once(*, due: datetime, now: datetime, grace: timedelta, policy: str) -> Decision:
    """A one-off job's one tick: it fires when at most `grace` late, else by the misfire rule
    (coalesce: one `catch_up` run; skip: recorded skipped); then the job has no next tick."""
    late = due < now - grace
    catch_up, missed = late_ticks_fate(late=int(late), stand_in=False, policy=policy)
    decision = Decision(last_tick=due, missed_ticks=missed)
    if not late:
        decision.fires = [Fire(due, SCHEDULE)]
    elif catch_up:
        decision.fires = [Fire(due, CATCH_UP)]
    else:
        decision.skipped = Fire(due, SCHEDULE, missed_ticks=missed)
    return decision


def late_ticks_fate(*, late: int, stand_in: bool, policy: str) -> tuple[bool, int]:
    """The misfire rule for a job's ticks found later than its grace: whether the latest of
    them runs as a catch-up, and how many are missed.

    A newer tick that runs on time stands in for them: all are missed. Otherwise `coalesce`
    runs the latest once (`catch_up`) and `skip` runs none. The beat applies it to ticks no
    beat fired (`decide`) and to firings the broker did not take in time (`outbox`).
    """
    catch_up = late > 0 and not stand_in and policy != MisfirePolicy.SKIP
    return catch_up, late - int(catch_up)


@dataclass(frozen=True)
class _Late:
    count: int = 0
    latest: datetime | None = None


def _split(
    trigger: Trigger, *, due: datetime, late_before: datetime, now: datetime
) -> tuple[_Late, list[datetime]]:
    """The ticks from `due` up to `now`: those before `late_before` (counted), and the rest."""
    late = _Late()
    tick = due
    if tick < late_before:
        if isinstance(trigger, IntervalTrigger):
            count = math.ceil((late_before - tick) / trigger.every)
            late = _Late(count, tick + trigger.every * (count - 1))
            tick = tick + trigger.every * count
        else:
            late, tick = _count_late_crontab(trigger, tick, late_before)
    on_time = []
    while tick <= now:
        on_time.append(tick)
        tick = trigger.next_tick(tick)
    return late, on_time


def _count_late_crontab(
    trigger: Trigger, tick: datetime, late_before: datetime
) -> tuple[_Late, datetime]:
    count, latest = 0, tick
    while tick < late_before and count < MAX_COUNTED_TICKS:
        count, latest = count + 1, tick
        tick = trigger.next_tick(tick)
    if tick < late_before:
        tick = first_tick_after(trigger, late_before - timedelta(microseconds=1))
        latest = trigger.tick_at(late_before - EARLY_TOLERANCE - timedelta(microseconds=1))
    return _Late(count, latest), tick
