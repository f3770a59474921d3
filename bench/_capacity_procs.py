"""bench/capacity.py's processes: the Procfile's beat and worker, and the CPU each kind spent.

CPU is read from /proc through psutil: a process's own time plus what its reaped children
spent (a PostgreSQL backend that ended, a replaced pool process), for the worker's tree, the
beat, every PostgreSQL process of the bench's server and its Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
# The Procfile's lines, with a log file of their own and no pid or schedule file left behind.
WORKER = ["worker", "-E", "--loglevel=INFO", "--concurrency=2", "--without-gossip"]
BEAT = ["beat", "-S", "tasks.scheduling.beat:TickScheduler", "--loglevel=INFO", "--pidfile="]


class Proc:
    """A started Procfile process, its log, and a way to stop it."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"capacity-{name}-", suffix=".log")[1])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "project", *args],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_log(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} not ready:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def processes_start(batching: bool) -> tuple[Proc, Proc]:
    """The worker, then the beat (so nothing waits in the queue for a worker), both ready."""
    env = dict(os.environ, STRATEGY_BATCHING="1" if batching else "0", PYTHONUNBUFFERED="1")
    env["LOG_LEVEL"] = "INFO"  # as the Procfile runs them (`--loglevel=INFO`)
    schedule = Path(tempfile.mkdtemp(prefix="capacity-beat-")) / "schedule"
    worker = Proc("worker", [*WORKER, f"--hostname=capacity-{os.getpid()}@localhost"], env)
    worker.wait_log("ready.")
    beat = Proc("beat", [*BEAT, f"--schedule={schedule}"], env)
    beat.wait_log(" ready: ")
    return worker, beat


def _tree_seconds(root: psutil.Process) -> float:
    """CPU seconds of a process, its reaped children, and its live descendants."""
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def servers() -> dict[str, psutil.Process]:
    """The bench's PostgreSQL postmaster (the parent of this session's backend) and its Redis
    server (the pid it reports)."""
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    client = redis.Redis.from_url(settings.REDIS_URL)
    redis_pid = client.info("server")["process_id"]
    client.close()
    return {"postgres": backend.parent(), "redis": psutil.Process(redis_pid)}


def cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds so far of each kind of process."""
    return {kind: _tree_seconds(process) for kind, process in procs.items()}
