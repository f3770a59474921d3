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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
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
    try:
        wait_for(
            lambda: app.control.ping(destination=[hostname], timeout=0.5),
            timeout,
            f"celery worker {hostname} to answer a ping",
            alive=[worker],
        )
    except AssertionError:
        worker.stop()
        raise


def wait_for_log(process: ManagedProcess, text: str, timeout: float = 60.0) -> None:
    """Wait until `text` appears in the process's output; fail with the log if it dies first."""
    try:
        wait_for(
            lambda: text in process.log(),
            timeout,
            f"{process.name} to log {text!r}",
            every=0.1,
            alive=[process],
        )
    except AssertionError:
        process.stop()
        raise


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
    condition: Callable[[], object],
    timeout: float = 60.0,
    what: str = "condition",
    *,
    every: float = 0.05,
    alive: Sequence[ManagedProcess] = (),
) -> object:
    """Poll until `condition()` is truthy and return its value; fail with `what` after
    `timeout` seconds, or at once when a process in `alive` has died (with their logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        dead = [process for process in alive if not process.alive()]
        if dead:
            raise AssertionError(f"{dead[0].name} died waiting for {what}:{_tails(dead)}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{_tails(alive)}")


def _tails(processes: Sequence[ManagedProcess]) -> str:
    return "".join(f"\n--- {p.name}'s log:\n{p.log()[-4000:]}" for p in processes)


def run_for(seconds: float, *processes: ManagedProcess) -> None:
    """Let `seconds` pass with the processes running, for a test whose point is time passing
    (ticks fire on the clock); fail at once, with its log, when one of them dies."""
    end = time.monotonic() + seconds
    wait_for(
        lambda: time.monotonic() >= end,
        timeout=seconds + 30,
        what=f"{seconds}s to pass",
        every=min(0.5, seconds),
        alive=processes,
    )


def wait_for_answer(process: ManagedProcess, url: str, timeout: float = 120.0) -> None:
    """Wait until the server `process` answers `url` over HTTP (any status); fail with its log
    when it dies first or stays silent."""

    def answers() -> bool:
        try:
            requests.get(url, timeout=30)  # slow to answer under load is still an answer
        except requests.RequestException:  # not listening yet
            return False
        return True

    wait_for(answers, timeout, f"{process.name} to answer {url}", every=0.3, alive=[process])
