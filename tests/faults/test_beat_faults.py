"""A beat killed and started again later: each tick of the outage runs under its own tick, or
is counted missed on the firing that stands in for it; none is filed under the next tick or
lost."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

from django.utils import timezone

from strategies.models import StrategyRun
from tasks.models import Firing
from tests.faults.helpers import EVERY, FAULTS, grid, holding_strategy, runs_after, runs_per_tick
from tests.processes import ManagedProcess, start_beat

pytestmark = FAULTS

GRACE = "3"  # seconds: ticks later than this are coalesced into one catch-up run
DOWN = 10.0  # seconds the beat stays down: five ticks


def test_a_beat_killed_and_back_later_runs_each_tick_once_or_counts_it_missed(
    celery_worker: ManagedProcess,
) -> None:
    strategy = holding_strategy()
    beat = start_beat(SCHEDULER_MISFIRE_GRACE_SECONDS=GRACE)
    try:
        runs_after(strategy, timezone.now() - timedelta(seconds=EVERY))
        beat.kill(signal.SIGKILL)
        killed_at = timezone.now()
        time.sleep(DOWN)  # ticks pass with no beat: time is the point
        beat = start_beat(SCHEDULER_MISFIRE_GRACE_SECONDS=GRACE)
        back_at = timezone.now()
        runs_after(strategy, back_at)
    finally:
        beat.stop()

    runs = runs_per_tick(strategy)
    firings = Firing.objects.filter(job_name=strategy.job_id)
    # The firing that stands in for the missed ticks: a catch-up run, or the first on-time
    # tick after them (beat-core's coalesce policy), each under its own tick.
    stand_in = firings.get(missed_ticks__gt=0)
    stand_in_run = StrategyRun.objects.get(
        strategy=strategy, scheduled_tick=stand_in.scheduled_tick
    )
    expected = grid(list(runs))
    missed = sum(firings.values_list("missed_ticks", flat=True))
    assert all(len(statuses) == 1 for statuses in runs.values())
    assert "failed" not in {statuses[0] for statuses in runs.values()}
    assert len(runs) + missed == len(expected)  # each tick ran or is counted missed
    assert missed >= 1
    # Its own tick (fired as the beat came back), never the next one.
    assert killed_at < stand_in.scheduled_tick <= back_at + timedelta(seconds=1)
    assert stand_in_run.trigger == stand_in.trigger
