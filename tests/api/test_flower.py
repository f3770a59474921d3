"""Flower as the Procfile starts it: a real process, basic auth, and the real worker listed."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import requests

from project.devstack.embedded import free_port
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, start_beat, start_process, wait_for, wait_for_answer
from tests.strategies.helpers import add_candles

pytestmark = pytest.mark.integration

LOGIN = ("ops", "flower-test-password")


@pytest.fixture
def flower(celery_worker: ManagedProcess) -> Iterator[str]:
    port = free_port()
    process = start_process(
        "flower",
        [sys.executable, "-m", "project.flower", "--address", "127.0.0.1", "--port", str(port)],
        FLOWER_BASIC_AUTH=":".join(LOGIN),
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_answer(process, url, timeout=60)
    yield url
    process.stop()


def worker_hostname(worker: ManagedProcess) -> str:
    command = worker.process.args
    return next(arg.split("=", 1)[1] for arg in command if arg.startswith("--hostname="))


def test_flower_refuses_without_credentials_and_lists_the_worker_with_them(
    flower: str, celery_worker: ManagedProcess
) -> None:
    anonymous = requests.get(f"{flower}/api/workers", timeout=10)
    wrong = requests.get(f"{flower}/api/workers", auth=("ops", "nope"), timeout=10)

    def workers() -> dict[str, object]:
        response = requests.get(f"{flower}/api/workers?refresh=1", auth=LOGIN, timeout=30)
        assert response.status_code == 200
        return response.json()

    hostname = worker_hostname(celery_worker)
    wait_for(lambda: hostname in workers(), timeout=30, what=f"flower to list {hostname}")

    assert anonymous.status_code == 401
    assert wrong.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_flower_shows_which_strategy_a_scheduled_task_runs(
    flower: str, celery_worker: ManagedProcess
) -> None:
    market = MarketFactory()
    add_candles(market, [100, 100])
    strategy = StrategyFactory(market=market, interval_seconds=1, name="BTC DCA")
    beat = start_beat()  # its start-up reconcile gives the strategy its job

    def strategy_tasks() -> dict[str, dict[str, object]]:
        response = requests.get(f"{flower}/api/tasks", auth=LOGIN, timeout=10)
        assert response.status_code == 200
        tasks = response.json()
        return {uuid: task for uuid, task in tasks.items() if uuid.startswith(strategy.job_id)}

    try:
        shown = wait_for(strategy_tasks, timeout=90, what="a task of the strategy in Flower")
    finally:
        beat.stop()

    task_id, task = next(iter(shown.items()))  # type: ignore[attr-defined]
    assert task_id.startswith(f"strategy_{strategy.pk}@")
    assert task_id.endswith("Z")
    assert task["name"] == "execute_single_strategy"
    assert task["args"] in (f"[{strategy.pk}]", f"({strategy.pk},)")
