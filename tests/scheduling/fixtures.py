"""Fixtures for both scheduler backends, the processes that fire their jobs, and a run log."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from django.conf import settings
from django.utils.module_loading import import_string

from project.env import SCHEDULER_BACKENDS
from project.kernel import scheduling
from project.kernel.locks import lock_try
from project.kernel.scheduling import Scheduler, get_scheduler
from tests.processes import ManagedProcess, start_beat, start_celery_worker, start_run_scheduler

# Model modules load only after Django is set up (this module is imported by conftests).


@dataclass(frozen=True)
class Run:
    at: datetime
    pid: int
    note: str = ""


class RunLog:
    """The runs of the recording task for one label, read from Redis."""

    def __init__(self, label: str) -> None:
        self.label = label

    def runs(self) -> list[Run]:
        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            raw = client.lrange(f"tw-test-runs:{self.label}", 0, -1)
        finally:
            client.close()
        entries = [json.loads(item) for item in raw]
        return [
            Run(datetime.fromtimestamp(e["at"], UTC), e["pid"], e.get("note", "")) for e in entries
        ]

    def wait_for(self, count: int, timeout: float) -> list[Run]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            if len(runs) >= count:
                return runs
            time.sleep(0.2)
        raise AssertionError(
            f"{self.label}: {len(self.runs())} runs after {timeout}s, wanted {count}"
        )


@pytest.fixture
def run_log() -> Callable[[], RunLog]:
    return lambda: RunLog(uuid.uuid4().hex[:12])


def make_backend(name: str) -> Scheduler:
    return import_string(SCHEDULER_BACKENDS[name])()


def clear_apscheduler_store() -> None:
    from tasks.scheduling.apscheduler_backend import APSchedulerScheduler

    backend = APSchedulerScheduler()
    for job in backend.get_jobs():
        backend.remove_job(job.id)
    store = backend._store_or_fail()
    with store.engine.begin() as conn:
        conn.execute(store.jobs_t.delete())
    backend.shutdown()


@pytest.fixture(params=["celery", "apscheduler"])
def backend_name(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[str]:
    """Each backend in turn; the job store is emptied afterwards (the database is flushed)."""
    yield request.param
    if request.param == "apscheduler":
        clear_apscheduler_store()


@pytest.fixture
def backend(backend_name: str) -> Iterator[Scheduler]:
    scheduler = make_backend(backend_name)
    yield scheduler
    scheduler.shutdown()


@pytest.fixture
def use_backend(backend_name: str, settings: object) -> Iterator[Scheduler]:
    """Make `get_scheduler()` (the services' scheduler) return this backend."""
    settings.SCHEDULER_BACKEND = SCHEDULER_BACKENDS[backend_name]  # type: ignore[attr-defined]
    settings.SCHEDULER_BACKEND_NAME = backend_name  # type: ignore[attr-defined]
    scheduler = get_scheduler()
    yield scheduler
    scheduler.shutdown()
    scheduling._instance.cache_clear()


@pytest.fixture(scope="module")
def recording_worker(django_db_setup: None) -> Iterator[ManagedProcess]:
    """A real worker that knows the recording task."""
    worker = start_celery_worker()
    yield worker
    worker.stop()


@pytest.fixture
def scheduler_process(
    backend_name: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], ManagedProcess]]:
    """Start the process that fires this backend's jobs: beat (with a worker) or run_scheduler."""
    started: list[ManagedProcess] = []

    def start() -> ManagedProcess:
        if backend_name == "celery":
            request.getfixturevalue("recording_worker")
            process = start_beat()
        else:
            process = start_run_scheduler()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def a_process_that_fires_nothing(backend_name: str) -> Iterator[None]:
    """What looks alive but fires nothing: a beat's heartbeat row, or a held leader lease."""
    from tasks.heartbeat import beat_heartbeat_write
    from tasks.scheduling.leader import SCHEDULER_LEASE_KEY, connection_kwargs

    if backend_name == "celery":
        beat_heartbeat_write()
        yield
        return
    with psycopg.connect(autocommit=True, **connection_kwargs()) as lease:
        assert lock_try(lease.cursor(), SCHEDULER_LEASE_KEY)
        yield
