"""Real beat processes: every tick exactly once with two beats, after a kill -9, a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tasks.models import BeatInstance, Firing
from tests.processes import ManagedProcess, run_for, start_beat, wait_for
from tests.scheduling.beats import (
    drained,
    duplicates,
    gaps,
    interval_jobs,
    jobs_stop,
    published,
    queued_ticks,
    ran_ticks,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Jobs sent `to_queue` go to a queue no worker takes, counted there: a beat must not publish
# their firings again as lost (BEAT_REDELIVER_AFTER_SECONDS) while they wait to be counted.
UNCONSUMED = {"BEAT_REDELIVER_AFTER_SECONDS": "3600"}


def test_a_worker_runs_each_tick_a_beat_fires_once_with_its_tick(
    recording_worker: ManagedProcess,
) -> None:
    label = interval_jobs(5, every=1)
    beat = start_beat()
    try:
        wait_for(lambda: published(label) >= 25, timeout=60, what="25 firings")
    finally:
        jobs_stop(label)
        beat.stop()

    runs = drained(label, timeout=90)

    assert len(runs) == published(label)
    assert duplicates(runs) == []
    assert gaps(runs, every=1) == {}


def test_two_beats_fire_every_tick_of_500_jobs_exactly_once() -> None:
    label = interval_jobs(500, every=2, to_queue=True)
    beats = [start_beat(**UNCONSUMED), start_beat(**UNCONSUMED)]
    try:
        wait_for(
            lambda: published(label) >= 500 * 14,
            timeout=120,
            what="14 ticks of 500 jobs published",
            every=0.5,
            alive=beats,
        )
    finally:
        jobs_stop(label)
        for beat in beats:
            beat.stop()

    sent = queued_ticks(label)

    assert len(sent) == published(label)
    assert duplicates(sent) == []
    assert gaps(sent, every=2) == {}
    assert len({job for job, _ in sent}) == 500
    assert (
        Firing.objects.filter(job_name__startswith=label).values("beat_id").distinct().count() == 2
    )


def test_when_one_beat_is_killed_the_other_fires_on_within_5_seconds() -> None:
    label = interval_jobs(50, every=1, to_queue=True)
    first, second = start_beat(**UNCONSUMED), start_beat(**UNCONSUMED)
    try:
        run_for(6, first, second)  # both fire for a while
        first.kill()
        killed_at = _at(time.time())
        run_for(10, second)  # the window in which the survivor's lateness is measured
        ended_at = _at(time.time())
    finally:
        jobs_stop(label)
        first.stop()
        second.stop()

    sent = queued_ticks(label)
    after_kill = Firing.objects.filter(
        job_name__startswith=label, scheduled_tick__range=(killed_at, ended_at)
    )
    slowest = max(f.published_at - f.scheduled_tick for f in after_kill)

    assert len(sent) == published(label)
    assert duplicates(sent) == []
    assert gaps(sent, every=1) == {}
    assert after_kill.count() >= 50 * 8
    assert after_kill.filter(published_at=None).count() == 0
    assert slowest < timedelta(seconds=5)


def test_a_restarted_beat_neither_misses_nor_repeats_a_tick() -> None:
    label = interval_jobs(20, every=1, to_queue=True)
    beat = start_beat(**UNCONSUMED)
    try:
        run_for(4, beat)  # four ticks before the stop
    finally:
        beat.stop()
    stopped_at = time.time()
    time.sleep(3)  # down for three ticks: the time passing is the point
    beat = start_beat(**UNCONSUMED)
    try:
        run_for(4, beat)  # the ticks missed while down fire, then four more
    finally:
        jobs_stop(label)
        beat.stop()

    sent = queued_ticks(label)
    while_down = {tick for _, tick in sent if stopped_at < tick.timestamp() < stopped_at + 3}

    assert len(sent) == published(label)
    assert duplicates(sent) == []
    assert gaps(sent, every=1) == {}
    assert len(while_down) >= 2  # fired after the restart, each tick on its own
    assert Firing.objects.filter(job_name__startswith=label, trigger="catch_up").count() == 0


def test_a_beat_under_the_other_backend_fires_nothing_and_says_why(
    recording_worker: ManagedProcess,
) -> None:
    label = interval_jobs(3, every=1)
    beat = start_beat(SCHEDULER_BACKEND="apscheduler")
    try:
        run_for(4, beat)  # four ticks in which nothing may fire
    finally:
        jobs_stop(label)
        beat.stop()

    assert "this beat fires nothing" in beat.log()
    assert Firing.objects.count() == 0
    assert ran_ticks(label) == []
    assert BeatInstance.objects.get().firing is False


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)
