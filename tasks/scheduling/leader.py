"""Leader election: a PostgreSQL advisory lock held on a dedicated connection is the lease."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import connections

from project.kernel.locks import LockPurpose, lock_held_sql, lock_key, lock_try

logger = logging.getLogger(__name__)

SCHEDULER_LEASE_KEY = lock_key(LockPurpose.SCHEDULER_LEADER)


def connection_kwargs(alias: str = "default") -> dict[str, Any]:
    """libpq keywords for a new connection to the database Django uses (socket or TCP)."""
    db: Mapping[str, Any] = connections[alias].settings_dict
    kwargs = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": str(db["PORT"]) if db.get("PORT") else None,
        "application_name": "tickwork-scheduler-lease",
        "connect_timeout": 5,
    }
    return {key: value for key, value in kwargs.items() if value is not None}


@dataclass(frozen=True)
class LeaseHolder:
    """The session holding the scheduler lease, and when it last ran a statement: the leader
    checks its lease connection every `check_seconds`, so that is its heartbeat (None where
    the server hides other roles' activity: `pg_read_all_stats`)."""

    pid: int
    heartbeat_at: datetime | None


def lease_holder(alias: str = "default") -> LeaseHolder | None:
    """The holder of the scheduler lease in this database, or None: one look at pg_locks."""
    held = lock_held_sql(LockPurpose.SCHEDULER_LEADER)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT l.pid, a.query_start FROM pg_locks l"  # noqa: S608 - constants only
            f" LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE {held}"
        )
        row = cursor.fetchone()
    return LeaseHolder(*row) if row else None


def lease_holder_pid(alias: str = "default") -> int | None:
    """The server pid of the session holding the scheduler lease in this database, or None."""
    holder = lease_holder(alias)
    return holder.pid if holder else None


class AdvisoryLease:
    """Compete for one advisory lock; call back when this process gains or loses it.

    The lock lives as long as the connection that took it: if the process dies, PostgreSQL
    ends the session and frees the lock at once, and a standby, retrying every
    `retry_seconds`, takes over. The leader checks its connection every `check_seconds`
    and calls `on_lost` as soon as the check fails, before anyone else can have the lock.
    """

    def __init__(
        self,
        *,
        key: tuple[int, int],
        connect: Callable[[], psycopg.Connection[Any]],
        on_elected: Callable[[], None],
        on_lost: Callable[[], None],
        on_beat: Callable[[], None] = lambda: None,
        retry_seconds: float = 3.0,
        check_seconds: float = 1.0,
    ) -> None:
        self.key = key
        self._connect = connect
        self._on_elected, self._on_lost, self._on_beat = on_elected, on_lost, on_beat
        self.retry_seconds, self.check_seconds = retry_seconds, check_seconds
        self._connection: psycopg.Connection[Any] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_leader = False
        self.last_error = ""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scheduler-lease", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Give the lease up (on_lost runs first if this process led) and end the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self.is_leader:
                self._check()
                self._stopping.wait(self.check_seconds)
            else:
                self._try_acquire()
                if not self.is_leader:
                    self._stopping.wait(self.retry_seconds)
        if self.is_leader:
            self._lose("shutting down")
        self._close()

    def _try_acquire(self) -> None:
        try:
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
            with self._connection.cursor() as cursor:
                taken = lock_try(cursor, self.key)
        except psycopg.Error as error:
            self.last_error = f"cannot reach the database for the lease: {error}"
            logger.warning("scheduler lease: %s", self.last_error)
            self._close()
            return
        self.last_error = ""
        if taken:
            self.is_leader = True
            logger.info("scheduler lease taken: this process leads")
            try:
                self._on_elected()
            except Exception:
                logger.exception("scheduler lease: starting as leader failed; giving the lease up")
                self._lose("failed to start")
                self._close()

    def _check(self) -> None:
        try:
            assert self._connection is not None
            self._connection.execute("SELECT 1")
        except (psycopg.Error, AssertionError) as error:
            self.last_error = f"lease connection lost: {error}"
            self._lose(self.last_error)
            self._close()
            return
        try:
            self._on_beat()
        except Exception:
            logger.exception("scheduler lease: periodic wake-up failed")

    def _lose(self, reason: str) -> None:
        self.is_leader = False
        logger.warning("scheduler lease given up (%s): this process stops firing jobs", reason)
        try:
            self._on_lost()
        except Exception:
            logger.exception("scheduler lease: stopping as leader failed")

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except psycopg.Error:
                logger.debug("closing the lease connection failed", exc_info=True)
            self._connection = None
