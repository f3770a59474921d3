"""The beat's time rules: anchored interval grids, crontabs in their zone, the misfire policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger
from tasks.scheduling.ticks import CATCH_UP, SCHEDULE, Fire, decide, next_fire_time

GRACE = timedelta(seconds=60)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_late_run_does_not_shift_the_next_one() -> None:
    trigger = IntervalTrigger(60)

    decision = decide(
        trigger,
        due=at("2026-11-28 10:00:00"),
        now=at("2026-11-28 10:00:04"),
        grace=GRACE,
        policy="coalesce",
    )

    assert decision.fires == [Fire(at("2026-11-28 10:00:00"), SCHEDULE)]
    assert decision.next_fire_at == at("2026-11-28 10:01:00")


def test_the_grid_is_anchored_whatever_the_last_change() -> None:
    anchor = at("2026-11-28 09:00:07")

    planned = next_fire_time(
        IntervalTrigger(60, anchor=anchor), changed_at=at("2026-11-28 10:00:30"), last_tick=None
    )

    assert planned == at("2026-11-28 10:01:07")


def test_a_restart_continues_after_the_last_tick_fired() -> None:
    planned = next_fire_time(
        IntervalTrigger(2),
        changed_at=at("2026-11-28 10:00:00"),
        last_tick=at("2026-11-28 10:05:00"),
    )

    assert planned == at("2026-11-28 10:05:02")


def test_nothing_fires_before_the_anchor() -> None:
    anchor = at("2026-11-28 11:00:00")

    planned = next_fire_time(
        IntervalTrigger(60, anchor=anchor), changed_at=at("2026-11-28 10:00:00"), last_tick=None
    )

    assert planned == anchor


def test_ticks_within_the_grace_each_fire_on_their_own() -> None:
    decision = decide(
        IntervalTrigger(2),
        due=at("2026-11-28 10:00:00"),
        now=at("2026-11-28 10:00:05"),
        grace=GRACE,
        policy="coalesce",
    )

    assert [fire.tick for fire in decision.fires] == [
        at("2026-11-28 10:00:00"),
        at("2026-11-28 10:00:02"),
        at("2026-11-28 10:00:04"),
    ]
    assert decision.missed_ticks == 0
    assert decision.next_fire_at == at("2026-11-28 10:00:06")


def test_missed_ticks_coalesce_into_one_catch_up_run_with_the_count() -> None:
    decision = decide(
        IntervalTrigger(60),
        due=at("2026-11-28 10:00:00"),
        now=at("2026-11-28 12:00:30"),
        grace=timedelta(seconds=20),
        policy="coalesce",
    )

    assert decision.fires == [Fire(at("2026-11-28 12:00:00"), CATCH_UP, missed_ticks=120)]
    assert decision.missed_ticks == 120
    assert decision.last_tick == at("2026-11-28 12:00:00")
    assert decision.next_fire_at == at("2026-11-28 12:01:00")


def test_missed_ticks_are_skipped_under_the_skip_policy_and_counted() -> None:
    decision = decide(
        IntervalTrigger(60),
        due=at("2026-11-28 10:00:00"),
        now=at("2026-11-28 12:00:30"),
        grace=timedelta(seconds=20),
        policy="skip",
    )

    assert decision.fires == []
    assert decision.skipped == Fire(at("2026-11-28 12:00:00"), SCHEDULE, missed_ticks=121)
    assert decision.next_fire_at == at("2026-11-28 12:01:00")


def test_an_on_time_tick_after_missed_ones_stands_in_for_them() -> None:
    decision = decide(
        IntervalTrigger(60),
        due=at("2026-11-28 10:00:00"),
        now=at("2026-11-28 12:00:10"),
        grace=timedelta(seconds=20),
        policy="skip",
    )

    assert decision.fires == [Fire(at("2026-11-28 12:00:00"), SCHEDULE, missed_ticks=120)]
    assert decision.skipped is None


def test_missed_crontab_ticks_are_counted_one_by_one() -> None:
    trigger = CrontabTrigger.parse("0 * * * *", "Europe/Berlin")

    decision = decide(
        trigger,
        due=at("2026-11-28 00:00:00"),
        now=at("2026-11-28 05:30:00"),
        grace=GRACE,
        policy="coalesce",
    )

    assert decision.fires == [Fire(at("2026-11-28 05:00:00"), CATCH_UP, missed_ticks=5)]


def ticks_from(trigger: CrontabTrigger, start: str, count: int) -> list[datetime]:
    ticks = [trigger.next_tick(at(start))]
    while len(ticks) < count:
        ticks.append(trigger.next_tick(ticks[-1]))
    return ticks


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Spring forward: 02:30 does not exist that night; it fires at 03:30 local, once.
        ("Europe/Berlin", "2026-03-28 12:00", ["03-29 01:30", "03-30 00:30"]),
        ("America/New_York", "2026-03-07 12:00", ["03-08 07:30", "03-09 06:30"]),
    ],
)
def test_a_daily_crontab_fires_once_on_the_spring_forward_night(
    zone: str, start: str, expected: list[str]
) -> None:
    ticks = ticks_from(CrontabTrigger.parse("30 2 * * *", zone), start, 2)

    assert [tick.strftime("%m-%d %H:%M") for tick in ticks] == expected


@pytest.mark.parametrize(
    ("zone", "expression", "start", "expected"),
    [
        # Fall back: 02:30 (Berlin) and 01:30 (New York) pass twice; each fires at the first.
        ("Europe/Berlin", "30 2 * * *", "2026-10-24 12:00", ["10-25 00:30", "10-26 01:30"]),
        ("America/New_York", "30 1 * * *", "2026-10-31 12:00", ["11-01 05:30", "11-02 06:30"]),
    ],
)
def test_a_daily_crontab_fires_once_on_the_fall_back_night(
    zone: str, expression: str, start: str, expected: list[str]
) -> None:
    ticks = ticks_from(CrontabTrigger.parse(expression, zone), start, 2)

    assert [tick.strftime("%m-%d %H:%M") for tick in ticks] == expected


def test_an_hourly_crontab_fires_each_real_hour_across_fall_back() -> None:
    ticks = ticks_from(CrontabTrigger.parse("0 * * * *", "Europe/Berlin"), "2026-10-24 23:30", 4)

    assert [tick.strftime("%H:%M") for tick in ticks] == ["00:00", "01:00", "02:00", "03:00"]


@pytest.mark.parametrize(
    "expression", ["0 12 * * 1", "0 12 * * 0", "*/20 1-5 * * mon-fri", "15 3 1,15 * */2"]
)
def test_crontab_ticks_agree_with_celery_on_weekdays(expression: str) -> None:
    trigger = CrontabTrigger.parse(expression)
    celery = crontab(*expression.split()[:2], *expression.split()[4:], *expression.split()[2:4])
    start = at("2026-11-28 00:00:00")

    fire = trigger.next_tick(start)

    assert fire.isoweekday() % 7 in celery.day_of_week
    assert fire.day in celery.day_of_month
    assert (fire.hour, fire.minute) in {(h, m) for h in celery.hour for m in celery.minute}
