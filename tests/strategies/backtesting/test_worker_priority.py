"""The backtests worker line runs at SCHED_IDLE CPU priority, its session's autogroup at nice 19,
as the Procfiles start it; a worker that also takes live work is never lowered."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from project.devstack.embedded import BASE_DIR
from tests.processes import start_celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroup(pid: int) -> str:
    return Path(f"/proc/{pid}/autogroup").read_text().strip()


def policies(pid: int) -> set[int]:
    """The scheduling policies of a worker's process and its pool processes."""
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {os.sched_getscheduler(process.pid) for process in tree}


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.dev"])
def test_both_procfiles_start_the_backtests_line_at_idle_priority(procfile: str) -> None:
    line = next(
        line
        for line in (BASE_DIR / procfile).read_text().splitlines()
        if line.startswith("backtests:")
    )

    assert "env BACKTEST_WORKER_PRIORITY=${BACKTEST_WORKER_PRIORITY:-idle} celery" in line


def test_a_worker_of_the_backtests_queue_alone_runs_at_sched_idle_and_a_mixed_one_does_not() -> (
    None
):
    background = start_celery_worker(
        concurrency=2, queues="backtests", BACKTEST_WORKER_PRIORITY="idle"
    )
    try:
        mixed = start_celery_worker(
            concurrency=1, queues="celery,backtests", BACKTEST_WORKER_PRIORITY="idle"
        )
        try:
            background_policies, mixed_policies = (
                policies(background.process.pid),
                policies(mixed.process.pid),
            )
            groups = autogroup(background.process.pid), autogroup(mixed.process.pid)
        finally:
            mixed.stop()
    finally:
        background.stop()

    assert background_policies == {os.SCHED_IDLE}
    assert mixed_policies == {os.SCHED_OTHER}
    if AUTOGROUPS.exists() and AUTOGROUPS.read_text().strip() == "1":
        # each started in a session of its own, as honcho starts a Procfile line
        assert [group.endswith(" nice 19") for group in groups] == [True, False]
