"""Triggers map the moment a job starts back to the one tick it belongs to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, InvalidTrigger


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_interval_ticks_sit_on_the_epoch_grid() -> None:
    trigger = IntervalTrigger(600)

    assert trigger.tick_at(at("2026-11-28 10:07:31")) == at("2026-11-28 10:00:00")
    assert trigger.next_tick(at("2026-11-28 10:07:31")) == at("2026-11-28 10:10:00")


def test_a_job_starting_a_hair_early_counts_as_the_coming_tick() -> None:
    trigger = IntervalTrigger(600)

    assert trigger.tick_at(at("2026-11-28 10:09:59.500")) == at("2026-11-28 10:10:00")


def test_late_starts_of_one_tick_agree() -> None:
    trigger = IntervalTrigger(60, anchor=at("2026-01-01 00:00:30"))

    ticks = {trigger.tick_at(at("2026-11-28 10:00:30") + timedelta(seconds=s)) for s in (0, 5, 50)}

    assert ticks == {at("2026-11-28 10:00:30")}


def test_crontab_tick_is_the_latest_fire_time_in_its_time_zone() -> None:
    trigger = CrontabTrigger.parse("0 3 * * *", timezone="Europe/Berlin")

    # 03:00 in Berlin is 02:00 UTC in winter.
    assert trigger.tick_at(at("2026-11-28 12:00:00")) == at("2026-11-28 02:00:00")
    assert trigger.next_tick(at("2026-11-28 12:00:00")) == at("2026-11-29 02:00:00")


def test_every_minute_crontab_tick() -> None:
    trigger = CrontabTrigger.parse("* * * * *")

    assert trigger.tick_at(at("2026-11-28 12:00:42")) == at("2026-11-28 12:00:00")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CrontabTrigger.parse("61 * * * *"), "bad crontab"),
        (lambda: CrontabTrigger.parse("* * *"), "five fields"),
        (lambda: CrontabTrigger.parse("* * * * *", timezone="Mars/Olympus"), "unknown time zone"),
        (lambda: IntervalTrigger(0), "at least 1 second"),
    ],
)
def test_bad_triggers_are_refused_with_a_reason(build: object, message: str) -> None:
    with pytest.raises(InvalidTrigger, match=message):
        build()  # type: ignore[operator]
