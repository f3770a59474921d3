"""One backend at a time: sync_schedules moves the jobs, make run starts one scheduler."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from project.devstack.stack import only_configured_scheduler
from project.env import SCHEDULER_BACKENDS
from project.kernel.scheduling import IntervalTrigger, Scheduler
from tests.factories import StrategyFactory
from tests.scheduling.fixtures import make_backend

OTHER = {"celery": "apscheduler", "apscheduler": "celery"}


def test_sync_schedules_takes_the_jobs_off_the_other_backend(
    use_backend: Scheduler, backend_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = StrategyFactory(is_active=True)
    other = make_backend(OTHER[backend_name])
    other.add_job(strategy.job_id, "execute_single_strategy", IntervalTrigger(60), [strategy.pk])
    other.add_job("health_check", "health_check", IntervalTrigger(3600))
    other.add_job("by_hand", "health_check", IntervalTrigger(600))
    other.shutdown()

    call_command("sync_schedules")

    other = make_backend(OTHER[backend_name])
    try:
        left = {job.id: job.enabled for job in other.get_jobs()}
    finally:
        other.shutdown()
    out = capsys.readouterr().out
    assert left == {"by_hand": False}
    assert use_backend.get_job(strategy.job_id) is not None
    assert use_backend.get_job("health_check") is not None
    assert f"removed {strategy.job_id} from {OTHER[backend_name]}" in out
    assert f"paused by_hand from {OTHER[backend_name]}" in out


@pytest.mark.parametrize(
    ("backend", "started"),
    [
        ("celery", ["web", "worker", "beat", "flower", "exchange", "backtests"]),
        ("apscheduler", ["web", "worker", "scheduler", "flower", "exchange", "backtests"]),
    ],
)
def test_make_run_starts_only_the_configured_schedulers_process(
    backend: str, started: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULER_BACKEND", backend)

    command = only_configured_scheduler(["honcho", "start", "-f", "Procfile.dev"])

    assert command == ["honcho", "start", "-f", "Procfile.dev", *started]
    assert set(SCHEDULER_BACKENDS) == {"celery", "apscheduler"}


def test_make_run_keeps_process_names_given_by_hand() -> None:
    command = ["honcho", "start", "-f", "Procfile.dev", "web"]

    assert only_configured_scheduler(command) == command
