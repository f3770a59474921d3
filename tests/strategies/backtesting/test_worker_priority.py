"""The backtests worker line runs at SCHED_IDLE CPU priority, as the Procfiles start it; a worker
that also takes live work is never lowered."""

from __future__ import annotations

import os

import psutil
import pytest

from project.devstack.embedded import BASE_DIR
from tests.processes import start_celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


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
        finally:
            mixed.stop()
    finally:
        background.stop()

    assert background_policies == {os.SCHED_IDLE}
    assert mixed_policies == {os.SCHED_OTHER}
