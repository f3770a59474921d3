"""The fault tests' fixtures (tests/faults/fixtures.py)."""

from tests.faults.fixtures import (  # noqa: F401 - fixtures
    btc,
    embedded_postgres,
    embedded_redis,
    postgres_outage,
    redis_outage,
)
