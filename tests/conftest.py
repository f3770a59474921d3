"""Test session set-up: real PostgreSQL and Redis (throw-away embedded ones unless
TEST_DATABASE_URL / TEST_REDIS_URL are set), configured before Django loads its settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from project.embedded import EphemeralStack
from tests.processes import ManagedProcess, start_celery_worker

_stack = EphemeralStack()


def pytest_configure(config: pytest.Config) -> None:
    """Runs before pytest-django's own pytest_configure, which then calls django.setup()."""
    os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or _stack.start_postgres()
    os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL") or _stack.start_redis()
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "tests-only-" + os.urandom(16).hex()
    os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ.setdefault("SCHEDULER_BACKEND", "celery")
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - loading settings now lets pytest-django set Django up


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.stop()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, django_db_blocker: object) -> Iterator[ManagedProcess]:
    """A real `celery worker` process on the test database and Redis, for the whole session.

    Tests that use it must commit their data: mark them django_db(transaction=True).
    """
    worker = start_celery_worker()
    yield worker
    worker.stop()
