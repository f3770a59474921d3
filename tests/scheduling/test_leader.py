"""Two run_scheduler processes on one database: one leads, each tick runs once, and a killed
leader's standby takes over within 15 s."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from project.kernel.scheduling import IntervalTrigger
from tasks.scheduling.apscheduler_backend import APSchedulerScheduler
from tasks.scheduling.common import latest_tick
from tests.processes import ManagedProcess, start_run_scheduler
from tests.scheduling.fixtures import RunLog, clear_apscheduler_store
from tests.scheduling.tasks import RECORD_TASK

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HANDOVER_LIMIT = timedelta(seconds=15)
EARLY = timedelta(milliseconds=300)


def test_two_schedulers_run_each_tick_once_and_hand_over_when_the_leader_dies() -> None:
    log = RunLog(f"leader-{time.time_ns()}")
    trigger = IntervalTrigger(3)
    writer = APSchedulerScheduler()
    writer.add_job("job_a", RECORD_TASK, trigger, args=[log.label])
    writer.shutdown()
    processes = [start_run_scheduler(), start_run_scheduler()]
    try:
        runs = log.wait_for(4, timeout=60)
        leader = _process_with_pid(processes, runs[-1].pid)
        standby = next(p for p in processes if p is not leader)

        leader.kill(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        log.wait_for(len(log.runs()) + 3, timeout=60)
        runs = log.runs()
    finally:
        for process in processes:
            process.stop()
        clear_apscheduler_store()

    ticks = [latest_tick(trigger, run.at + EARLY) for run in runs]
    assert len(set(ticks)) == len(ticks), f"a tick ran twice: {runs}"
    before = [run for run in runs if run.at < killed_at]
    after = [run for run in runs if run.at > killed_at]
    assert {run.pid for run in before} == {leader.process.pid}, "the standby ran jobs too"
    assert {run.pid for run in after} == {standby.process.pid}
    assert after[0].at - killed_at <= HANDOVER_LIMIT, standby.log()[-3000:]
    assert "APScheduler leads" in standby.log()
    assert "Reconciled 0 strategy jobs" in standby.log()


def _process_with_pid(processes: list[ManagedProcess], pid: int) -> ManagedProcess:
    return next(p for p in processes if p.process.pid == pid)
