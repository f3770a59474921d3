"""The API tests' fixtures (tests/api/fixtures.py)."""

from tests.api.fixtures import (  # noqa: F401 - fixtures
    api,
    fresh_throttle,
    other_api,
    other_user,
    staff_api,
    staff_user,
    user,
)
