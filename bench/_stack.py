"""Shared set-up for benchmarks: a throw-away PostgreSQL and Redis, Django configured on them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from project.devstack.embedded import EphemeralStack


@contextmanager
def django_on_ephemeral_stack(**env: str) -> Iterator[None]:
    """Start PostgreSQL and Redis in /tmp, set Django up on them, migrate; stop them after.

    Production settings (DEBUG off: no query log weighing on the Django side), with throw-away
    secrets; `env` adds or overrides variables (SCHEDULER_BACKEND, ...).
    """
    from cryptography.fernet import Fernet

    stack = EphemeralStack()
    try:
        os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or stack.start_postgres()
        os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL") or stack.start_redis()
        os.environ.update(
            DEBUG="0",
            SECRET_KEY="bench-" + os.urandom(16).hex(),
            FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            DJANGO_SETTINGS_MODULE="project.settings",
            LOG_LEVEL="WARNING",
            **env,
        )
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield
    finally:
        stack.stop()
