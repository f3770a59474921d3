"""PostgreSQL advisory locks with one key scheme: (purpose, object id), two int4 keys.

The purpose says what the lock guards (one number per kind of lock, below); the object id says
which one (a run's id; 1 for a singleton such as the scheduler's leadership). A session-level
lock lives as long as the connection that took it, so a process that dies frees its locks at
once: the server ends its session.
"""

from __future__ import annotations

import time
from enum import IntEnum
from typing import Any, Protocol


class LockPurpose(IntEnum):
    # "TICK": the scheduler leader's lock since the first release; kept, so a scheduler of an
    # older release and of this one never both lead.
    SCHEDULER_LEADER = 0x5449434B
    RUN_LEASE = 0x5452554E  # "TRUN": the process running a strategy run holds it
    SWEEP_CHUNK = 0x53574350  # "SWCP": the process running a sweep chunk holds it
    FIRING_LEASE = 0x54464952  # "TFIR": the worker running a beat firing's task holds it
    FIRINGS_SETTLE = 0x6D697373  # "miss": one beat at a time settles late firings
    METRICS_TOTALS = 0x7469636B  # "tick": one scrape at a time moves the kept totals forward
    STRATEGY_JOBS_RECONCILE = 0x52434E43  # "RCNC": one start-up reconcile of strategy jobs


SINGLETON = 1
INT4 = 2**32


class Executes(Protocol):
    def execute(self, query: str, params: Any = ...) -> Any: ...

    def fetchone(self) -> Any: ...


def lock_key(purpose: LockPurpose, object_id: int = SINGLETON) -> tuple[int, int]:
    """The two int4 keys of a lock; ids past int4 wrap (two such objects never run at once)."""
    wrapped = (object_id + 2**31) % INT4 - 2**31
    return int(purpose), wrapped


def _object_key_sql(id_expression: str) -> str:
    return f"(mod({id_expression} + 2147483648, {INT4}) - 2147483648)::int4"


def lock_key_sql(purpose: LockPurpose, id_expression: str) -> str:
    """`lock_key` in SQL, for a statement that takes a lock on a row it writes (its id)."""
    return f"{int(purpose)}, {_object_key_sql(id_expression)}"


def lock_held_sql(
    purpose: LockPurpose, id_expression: str = str(SINGLETON), alias: str = "l"
) -> str:
    """A condition on the `pg_locks` row `alias`: it is the granted lock `lock_key(purpose, id)`
    in this database (pg_locks shows two int4 keys as classid, objid and objsubid 2)."""
    this_database = "(SELECT oid FROM pg_database WHERE datname = current_database())"
    return (
        f"{alias}.locktype = 'advisory' AND {alias}.granted AND {alias}.objsubid = 2"
        f" AND {alias}.classid = {int(purpose)}::oid"
        f" AND {alias}.objid = {_object_key_sql(id_expression)}::oid"
        f" AND {alias}.database = {this_database}"
    )


def lock_held_exists_sql(purpose: LockPurpose, id_expression: str) -> str:
    """SQL that is true while some session holds the lock of (purpose, the id)."""
    held = lock_held_sql(purpose, id_expression)
    return f"EXISTS (SELECT 1 FROM pg_locks AS l WHERE {held})"  # noqa: S608


def lock_try(cursor: Executes, key: tuple[int, int], *, wait: float = 0.0) -> bool:
    """Take the lock on the cursor's session, trying for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        if cursor.fetchone()[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def lock_try_for_transaction(cursor: Executes, key: tuple[int, int]) -> bool:
    """Take the lock until the end of the current transaction, if no one holds it."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", key)
    return bool(cursor.fetchone()[0])


def lock_for_transaction(cursor: Executes, key: tuple[int, int]) -> None:
    """Wait for the lock and hold it until the end of the current transaction."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", key)


def lock_release(cursor: Executes, key: tuple[int, int]) -> None:
    """Give back a lock this session holds."""
    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
