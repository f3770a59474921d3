"""The test session's servers: a throw-away PostgreSQL and Redis per test process (one per
pytest-xdist worker, so workers never share a database, a queue or a lock), or the servers
named by TEST_DATABASE_URL / TEST_REDIS_URL."""

from __future__ import annotations

import os
import re

import pytest

from project.devstack.embedded import EphemeralStack

stack = EphemeralStack()


def xdist_worker(config: pytest.Config) -> str:
    """This process's pytest-xdist worker id (`gw0`, ...); '' without xdist or in its controller.

    Read from the worker's input, which is there before any plugin is configured (the
    PYTEST_XDIST_WORKER variable is set later).
    """
    return getattr(config, "workerinput", {}).get("workerid", "")


def is_xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests out to pytest-xdist workers (and runs none itself)."""
    return bool(getattr(config.option, "numprocesses", None)) and not xdist_worker(config)


def servers_start(config: pytest.Config) -> tuple[str, str]:
    """The database and Redis URLs this test process uses, starting embedded ones if none is set.

    Workers given one TEST_REDIS_URL each take a database number of their own (gw0 -> 1, ...);
    pytest-django gives each its own test database on a shared TEST_DATABASE_URL.
    """
    database = os.environ.get("TEST_DATABASE_URL") or stack.start_postgres()
    redis = os.environ.get("TEST_REDIS_URL")
    if not redis:
        return database, stack.start_redis()
    worker = xdist_worker(config)
    if worker:
        number = int(worker.removeprefix("gw")) + 1
        redis = re.sub(r"(/\d*)?$", f"/{number}", redis.split("?")[0], count=1)
    return database, redis


def servers_stop() -> None:
    stack.stop()
