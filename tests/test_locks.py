"""Advisory locks: one key scheme, and pg_locks read back with the same mapping."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from project.kernel.locks import (
    LockPurpose,
    lock_for_transaction,
    lock_held_sql,
    lock_key,
    lock_release,
    lock_try,
    lock_try_for_transaction,
)
from tasks.scheduling.leader import SCHEDULER_LEASE_KEY, lease_holder_pid
from tests.processes import database_url


def _held(purpose: LockPurpose, id_expression: str) -> int:
    held = lock_held_sql(purpose, id_expression)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM pg_locks l WHERE {held}")  # noqa: S608
        return cursor.fetchone()[0]


def test_every_purpose_has_its_own_number() -> None:
    assert len({int(purpose) for purpose in LockPurpose}) == len(LockPurpose)


@pytest.mark.django_db
@pytest.mark.parametrize("object_id", [7, 2**31 + 5, 2**33 + 1])
def test_pg_locks_shows_a_held_lock_under_the_key_sql_derives(object_id: int) -> None:
    key = lock_key(LockPurpose.RUN_LEASE, object_id)
    with connection.cursor() as cursor:
        assert lock_try(cursor, key)
        try:
            held = _held(LockPurpose.RUN_LEASE, str(object_id))
            elsewhere = _held(LockPurpose.SCHEDULER_LEADER, str(object_id))
            other = _held(LockPurpose.RUN_LEASE, str(object_id + 1))
        finally:
            lock_release(cursor, key)
    assert (held, elsewhere, other) == (1, 0, 0)
    assert _held(LockPurpose.RUN_LEASE, str(object_id)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_transaction_lock_is_freed_at_commit() -> None:
    key = lock_key(LockPurpose.METRICS_TOTALS)
    with transaction.atomic(), connection.cursor() as cursor:
        lock_for_transaction(cursor, key)
        assert _held(LockPurpose.METRICS_TOTALS, "1") == 1
        assert lock_try_for_transaction(cursor, key)  # a session may take its own lock again
    assert _held(LockPurpose.METRICS_TOTALS, "1") == 0


@pytest.mark.django_db
def test_the_scheduler_lease_holder_is_the_session_that_holds_the_lock() -> None:
    with psycopg.connect(database_url(), autocommit=True) as holder:
        assert lease_holder_pid() is None
        holder.execute("SELECT pg_advisory_lock(%s, %s)", SCHEDULER_LEASE_KEY)
        pid = holder.execute("SELECT pg_backend_pid()").fetchone()[0]
        found = lease_holder_pid()
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", SCHEDULER_LEASE_KEY)
    assert found == pid
