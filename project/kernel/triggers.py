"""Triggers: the grid of moments a job fires on (an interval or a crontab in a time zone), the
tick a start belongs to, and the one check of a crontab a user typed.

A trigger defines a grid (interval: `anchor + k * every`; crontab: its fire times). A job
belongs to exactly one tick each time it fires, which is what makes a strategy run idempotent
per (strategy, tick); `Trigger.tick_at` maps the moment a job actually starts (a little late, or
a hair early) back to its tick. The scheduler interface (`project.kernel.scheduling`) takes them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from project.kernel.crontab import CRONTAB_FIELDS, crontab_join, crontab_split

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A job that starts this much before its tick is counted as that tick (clock skew, rounding).
EARLY_TOLERANCE = timedelta(seconds=2)


class SchedulerError(Exception):
    """A scheduler call that cannot be carried out, with a message a user can act on."""


class InvalidTrigger(SchedulerError, ValueError):
    pass


@dataclass(frozen=True)
class IntervalTrigger:
    """Every `seconds`, on the grid `anchor + k * seconds` (anchor defaults to the Unix epoch)."""

    seconds: int
    anchor: datetime = EPOCH

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise InvalidTrigger(f"an interval must be at least 1 second, got {self.seconds}")
        if self.anchor.tzinfo is None:
            raise InvalidTrigger("an interval's anchor must be timezone-aware")

    @property
    def every(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def tick_at(self, moment: datetime) -> datetime:
        """The latest tick at or before `moment` (plus the early tolerance)."""
        elapsed = (moment + EARLY_TOLERANCE - self.anchor).total_seconds()
        return self.anchor + self.every * math.floor(elapsed / self.seconds)

    def next_tick(self, after: datetime) -> datetime:
        """The first tick strictly after `after`."""
        elapsed = (after - self.anchor).total_seconds()
        return self.anchor + self.every * (math.floor(elapsed / self.seconds) + 1)

    def describe(self) -> str:
        return f"every {self.seconds}s"

    def grid(self, start: datetime, end: datetime) -> tuple[datetime, int]:
        """The first tick at or after `start` and how many ticks fall in [start, end): the
        ticks the backends fire, as a backtest replays them (`first + k * every`)."""
        first = self.next_tick(start - timedelta(microseconds=1))
        if first >= end:
            return first, 0
        return first, math.ceil((end - first) / self.every)


@dataclass(frozen=True)
class CrontabTrigger:
    """Five crontab fields evaluated in an IANA time zone."""

    minute: str = "*"
    hour: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    day_of_week: str = "*"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidTrigger(f"unknown time zone {self.timezone!r}") from None
        try:
            self._cron  # noqa: B018 - parse now, so a bad expression fails where it is made
        except ValueError as error:
            raise InvalidTrigger(f"bad crontab {self.expression!r}: {error}") from None

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CrontabTrigger:
        fields = crontab_split(expression)
        if len(fields) != len(CRONTAB_FIELDS):
            raise InvalidTrigger(
                f"a crontab has five fields (minute hour day month weekday), got {expression!r}"
            )
        return cls(*fields, timezone=timezone)

    @property
    def expression(self) -> str:
        return crontab_join([getattr(self, name) for name in CRONTAB_FIELDS])

    @functools.cached_property
    def _cron(self) -> Any:
        # Celery's parser decides what each field means (weekday 0 is Sunday, as in crontab):
        # beat fires on it, so the ticks computed here must agree. APScheduler 3 numbers
        # weekdays from Monday, so it gets the expanded values, never the raw expression.
        from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
        from celery.schedules import crontab

        parsed = crontab(
            minute=self.minute,
            hour=self.hour,
            day_of_month=self.day_of_month,
            month_of_year=self.month_of_year,
            day_of_week=self.day_of_week,
        )
        return APSCronTrigger(
            minute=_listed(parsed.minute, 60),
            hour=_listed(parsed.hour, 24),
            day=_listed(parsed.day_of_month, 31),
            month=_listed(parsed.month_of_year, 12),
            day_of_week=_listed({WEEKDAYS[day] for day in parsed.day_of_week}, 7),
            timezone=ZoneInfo(self.timezone),
        )

    def next_tick(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`, as cron keeps it across DST changes.

        A time skipped by spring-forward fires at the same minute of the next hour (02:30
        becomes 03:30); a fixed hour repeated by fall-back fires once, at its first pass, as
        in Vixie cron. Jobs on every hour (`*`) fire each real hour, both passes included.
        """
        fire = self._fire_after(after)
        if self.hour != "*" and _second_pass(fire.astimezone(ZoneInfo(self.timezone))):
            fire = self._fire_after(fire)
        return fire

    def _fire_after(self, after: datetime) -> datetime:
        """APScheduler's next fire time, in UTC (wall-clock arithmetic would lose the fold)."""
        start = after.astimezone(UTC) + timedelta(microseconds=1)
        fire = self._cron.get_next_fire_time(None, start)
        if fire is None:
            raise InvalidTrigger(f"crontab {self.expression!r} never fires after {after}")
        return fire.astimezone(UTC)

    def tick_at(self, moment: datetime) -> datetime:
        """The latest fire time at or before `moment` (plus the early tolerance)."""
        target = moment + EARLY_TOLERANCE
        for lookback in (timedelta(hours=2), timedelta(days=2), timedelta(days=400)):
            tick = None
            candidate = self.next_tick(target - lookback)
            while candidate <= target:
                tick = candidate
                candidate = self.next_tick(candidate)
            if tick is not None:
                return tick
        raise InvalidTrigger(f"crontab {self.expression!r} has not fired in the past 400 days")

    def describe(self) -> str:
        return f"cron {self.expression} ({self.timezone})"


def _second_pass(local: datetime) -> bool:
    """Whether this wall-clock time is its second occurrence (the hour repeated by fall-back)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _listed(values: set[Any], size: int) -> str:
    """A crontab field for APScheduler: `*` for every value, else the values comma-separated."""
    return "*" if len(values) == size else ",".join(str(v) for v in sorted(values, key=str))


Trigger = IntervalTrigger | CrontabTrigger


def ticks_between(trigger: Trigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every tick of `trigger` in [start, end), oldest first: what the backends fire, by
    `next_tick`, for a backtest to replay."""
    tick = trigger.next_tick(start - timedelta(microseconds=1))
    while tick < end:
        yield tick
        tick = trigger.next_tick(tick)


def trigger_field_errors(*, crontab: str, timezone: str) -> dict[str, str]:
    """The one check of a crontab and its time zone, for every form, serializer and service.

    Errors by the field each concerns (`crontab_timezone`, else `crontab`); empty when valid.
    An empty crontab (the interval applies) has only its time zone checked.
    """
    try:
        CrontabTrigger(timezone=timezone)
    except InvalidTrigger as error:
        return {"crontab_timezone": str(error)}
    if crontab:
        try:
            CrontabTrigger.parse(crontab, timezone)
        except InvalidTrigger as error:
            return {"crontab": str(error)}
    return {}
