"""Real processes for integration tests: Celery workers, beats, schedulers, servers; and the
waits on them, which raise when they time out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

from project.celery import app

BASE_DIR = Path(__file__).resolve().parent.parent
# Test-only tasks and strategies: every test process knows them, so whichever worker takes a
# message from the shared queue can run it.
TEST_TASK_MODULES = "tests.scheduling.tasks,tests.strategies.plugins"
# The test being run, set by the root conftest: only a test marked `integration` may start a
# process, so the fast tier (`-m "not integration"`) never starts one.
current_test: Any = None


def database_url() -> str:
    """The URL of the database this test process uses now (the test database)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{credentials}@{host}{port}/{db['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    """This test session's settings, pointed at the test database, for a child process."""
    env = dict(
        os.environ,
        DATABASE_URL=database_url(),
        CELERY_EXTRA_IMPORTS=TEST_TASK_MODULES,
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


@dataclass
class ManagedProcess:
    """A child process with its output in a log file that failing tests can show."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group: prefork children die with their parent."""
        if self.alive():
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _refuse_unless_integration(name: str) -> None:
    if current_test is not None and current_test.get_closest_marker("integration") is None:
        raise RuntimeError(
            f"{current_test.nodeid} starts a {name} process: mark it pytest.mark.integration "
            "(or add its fixture to PROCESS_FIXTURES in tests/conftest.py)"
        )


def run_process(
    args: list[str], *, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run a short-lived command to its end, its output captured as text."""
    _refuse_unless_integration(Path(args[0]).name)
    return subprocess.run(
        args,
        cwd=BASE_DIR,
        env=process_env() if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_process(name: str, args: list[str], **env: str) -> ManagedProcess:
    _refuse_unless_integration(name)
    log_path = Path(tempfile.mkstemp(prefix=f"tw-{name}-", suffix=".log")[1])
    process = subprocess.Popen(
        args,
        cwd=BASE_DIR,
        env=process_env(**env),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return ManagedProcess(name, process, log_path)


def start_celery_worker(
    concurrency: int = 2, queues: str = "celery", timeout: float = 60.0, **env: str
) -> ManagedProcess:
    """Start `celery worker` and wait until it answers a ping."""
    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    worker = start_process(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            "-E",
        ],
        **env,
    )
    wait_for_worker(worker, hostname, timeout)
    return worker


def wait_for_worker(worker: ManagedProcess, hostname: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"celery worker exited at start:\n{worker.log()[-4000:]}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return
    worker.stop()
    raise RuntimeError(f"celery worker did not answer a ping within {timeout}s:\n{worker.log()}")


def wait_for_log(process: ManagedProcess, text: str, timeout: float = 60.0) -> None:
    """Wait until `text` appears in the process's output; fail with the log if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.log():
            return
        if not process.alive():
            raise RuntimeError(f"{process.name} exited before logging {text!r}:\n{process.log()}")
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{process.name} did not log {text!r} within {timeout}s:\n{process.log()}")


def start_beat(timeout: float = 60.0, **env: str) -> ManagedProcess:
    """Start `celery beat` (our scheduler); returns once it is ready to fire (or refuses to)."""
    schedule_file = Path(tempfile.mkdtemp(prefix="tw-beat-")) / "schedule"
    beat = start_process(
        "beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "beat",
            "--loglevel=INFO",
            "--max-interval=1",
            f"--schedule={schedule_file}",
            "--pidfile=",
        ],
        **env,
    )
    wait_for_log(beat, " ready: ", timeout)
    return beat


def start_run_scheduler(timeout: float = 60.0, **env: str) -> ManagedProcess:
    """Start `manage.py run_scheduler` on the APScheduler backend; returns once it competes."""
    process = start_process(
        "run_scheduler",
        [sys.executable, "manage.py", "run_scheduler"],
        **{"SCHEDULER_BACKEND": "apscheduler", **env},
    )
    wait_for_log(process, "in the leader election", timeout)
    return process


def wait_for(
    condition: Callable[[], object], timeout: float = 60.0, what: str = "condition"
) -> object:
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
