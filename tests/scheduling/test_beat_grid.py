"""Beat's interval schedule is due on the tick grid, not N seconds after the last run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from project.scheduling import CrontabTrigger, IntervalTrigger
from tasks.scheduling.beat import GridModelEntry, GridSchedule
from tasks.scheduling.celery_backend import CeleryBeatScheduler


class FrozenGrid(GridSchedule):
    def __init__(self, trigger: IntervalTrigger, at: datetime) -> None:
        super().__init__(trigger)
        self.at = at

    def now(self) -> datetime:
        return self.at


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_late_run_does_not_shift_the_next_one() -> None:
    # Ran 4 s late for the 10:00:00 tick; the next run is still due at 10:01:00.
    last_run = at("2026-11-28 10:00:04")

    before = FrozenGrid(IntervalTrigger(60), at("2026-11-28 10:00:59.9")).is_due(last_run)
    on_tick = FrozenGrid(IntervalTrigger(60), at("2026-11-28 10:01:00")).is_due(last_run)

    assert before.is_due is False
    assert before.next == pytest.approx(0.1)
    assert on_tick.is_due is True
    assert on_tick.next == pytest.approx(60)


def test_missed_ticks_coalesce_into_one_run() -> None:
    grid = FrozenGrid(IntervalTrigger(60), at("2026-11-28 12:00:30"))

    first = grid.is_due(at("2026-11-28 10:00:00"))
    second = grid.is_due(at("2026-11-28 12:00:30"))

    assert first.is_due is True
    assert second.is_due is False
    assert second.next == pytest.approx(30)


def test_nothing_fires_before_the_anchor() -> None:
    anchor = at("2026-11-28 11:00:00")
    grid = FrozenGrid(IntervalTrigger(60, anchor=anchor), at("2026-11-28 10:59:00"))

    state = grid.is_due(at("2026-11-28 10:00:00"))

    assert state.is_due is False
    assert state.next == pytest.approx(60)


@pytest.mark.django_db
def test_an_edited_job_fires_from_its_next_tick_without_a_catch_up_run() -> None:
    CeleryBeatScheduler().add_job("job_a", "health_check", IntervalTrigger(3600))
    row = PeriodicTask.objects.get(name="job_a")
    row.last_run_at = timezone.now() - timedelta(hours=5)
    row.save()

    entry = GridModelEntry(PeriodicTask.objects.get(name="job_a"))

    assert isinstance(entry.schedule, GridSchedule)
    assert entry.is_due().is_due is False


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
